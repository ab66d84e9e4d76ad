"""CDK entry point (`uv run cdk synth`): the app itself is built by `secauto_infra.app_builder`."""

from secauto_infra.app_builder import build_app

build_app().synth()
