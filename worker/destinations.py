"""Where records go, by role: the outbox stores the role, not a topic name.

An outbox row written while a topic setting was wrong must go to the topic configured when
it is published, not to the typo it was written with; so rows keep a destination and the
publisher resolves it against the current settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from worker.settings import Settings

COMMAND: Final = "command"  # SEGSYNC_COMMAND_TOPIC
DLQ: Final = "dlq"  # SEGSYNC_DLQ_TOPIC
ENROL_COMMAND: Final = "enrol_command"  # SEGSYNC_ENROLLMENT_COMMAND_TOPIC
INPUT: Final = "input"  # the first of SEGSYNC_INPUT_TOPICS (ops commands publish events there)


def topics(settings: Settings) -> dict[str, str]:
    """Destination -> the topic configured now."""
    return {
        COMMAND: settings.command_topic,
        DLQ: settings.dlq_topic,
        ENROL_COMMAND: settings.enrollment_command_topic,
        INPUT: settings.input_topics[0],
    }
