"""Which of a Region's tagged backups are ours: the ones the ledger recorded (pure, no AWS).

The inventory (`backups.inventory`) finds what carries our tags; the ledger (`backups.ledger`)
knows what secauto created. A tagged backup whose (Region, id) is recorded under the plan is ours,
seen with its recorded values; one that is not is `unrecorded`: kept, reported, used for nothing
(not as a backup of this slot, not as protection, not as a copy source, not for retention). The
snapshots a recorded AMI's block device mapping lists are ours too (EC2 created them with the AMI
and the mapping never changes); those not yet recorded are returned to be recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from backups.ledger import Record, RecordKey
    from backups.model import Backup

__all__ = ["Owned", "split_by_ledger"]


@dataclass
class Owned:
    """One Region's tagged backups of a plan, split by the ledger."""

    #: Recorded: ours, with the recorded values in place of the tags'.
    ours: list[Backup] = field(default_factory=list)
    #: Tagged ours, not recorded: kept and reported, never pruned.
    unrecorded: list[Backup] = field(default_factory=list)
    #: Snapshots of our (recorded) AMIs seen for the first time: to be recorded.
    new_records: list[Record] = field(default_factory=list)


def split_by_ledger(tagged: Sequence[Backup], records: Mapping[RecordKey, Record]) -> Owned:
    """Split `tagged` (one plan, one Region) by `records` (that plan's, every Region)."""
    owned = Owned()
    known = dict(records)
    for backup in tagged:
        image = known.get(backup.key)
        if backup.kind != "image" or image is None or image.kind != "image":
            continue
        for snapshot_id in backup.snapshot_ids:
            if (backup.region, snapshot_id) not in known:
                derived = image.of_image_snapshot(snapshot_id)
                known[derived.key] = derived
                owned.new_records.append(derived)
    for backup in tagged:
        record = known.get(backup.key)
        if record is not None and record.kind == backup.kind:
            owned.ours.append(record.applied_to(backup))
        else:
            owned.unrecorded.append(backup)
    return owned
