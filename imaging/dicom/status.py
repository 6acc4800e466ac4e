"""DIMSE's numbers in one place: the command set's elements, the statuses, the failure reasons,
and the Error Comments the listener writes.

As pynetdicom's `status.py` does, each service's statuses are a table of code
-> (category, description), with the standard's ranges spelled out and the
clause cited; `Status` names the codes the region's listener sends,
`FailureReason` those it and STOW-RS put in a Failed SOP Sequence.

A refused C-STORE's Error Comment (0000,0902) is ingest's reason for refusing
it (`IngestResult.reason`, or the text of `IngestUnavailable`), cut to an LO's
64 characters: it says what is wrong with the object, where ingest finds it.
The comments the listener writes for itself are `ErrorComment`.
"""

from enum import IntEnum, StrEnum

# ---------------------------------------------------------------- the command set (PS3.7 E.1)

# Command elements (PS3.7 Table E.1-1), as 32-bit tags of group 0000.
GROUP_LENGTH = 0x00000000
AFFECTED_SOP_CLASS = 0x00000002
REQUESTED_SOP_CLASS = 0x00000003
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
MESSAGE_ID_RESPONDED_TO = 0x00000120
DATASET_TYPE = 0x00000800
STATUS = 0x00000900
ERROR_COMMENT = 0x00000902
AFFECTED_SOP_INSTANCE = 0x00001000
REQUESTED_SOP_INSTANCE = 0x00001001
EVENT_TYPE_ID = 0x00001002
ACTION_TYPE_ID = 0x00001008

# Command Data Set Type (0000,0800): 0x0101 says no data set follows; any other value that one does.
NO_DATASET = 0x0101
DATASET_PRESENT = 0x0001

# Command Field (0000,0100) of the requests the listener reads (PS3.7 E.1-1); a response's is its
# request's with RESPONSE_BIT set.
C_STORE_RQ, C_ECHO_RQ, N_EVENT_REPORT_RQ, N_ACTION_RQ, C_CANCEL_RQ = 0x0001, 0x0030, 0x0100, 0x0130, 0x0FFF
RESPONSE_BIT = 0x8000

# Storage Commitment Push Model (PS3.4 J.3): the N-ACTION's Action Type ID, and the
# N-EVENT-REPORT's Event Type ID.
REQUEST_STORAGE_COMMITMENT = 1


class CommitmentEvent(IntEnum):
    """Event Type ID of a Storage Commitment N-EVENT-REPORT (PS3.4 J.3.3)."""

    SUCCESSFUL = 1  # Storage Commitment Request Successful
    FAILURES_EXIST = 2  # Storage Commitment Request Complete - Failures Exist


# ---------------------------------------------------------------- statuses


class Category(StrEnum):
    SUCCESS = "Success"
    WARNING = "Warning"
    FAILURE = "Failure"
    CANCEL = "Cancel"
    PENDING = "Pending"


StatusTable = dict[int, tuple[Category, str]]

# Statuses of every DIMSE service (PS3.7 Annex C). Verification and Storage
# Commitment's N-ACTION answer from these alone (PS3.4 A.4, J.3.2).
GENERAL_STATUS: StatusTable = {
    0x0000: (Category.SUCCESS, ""),
    0x0105: (Category.FAILURE, "No Such Attribute"),
    0x0106: (Category.FAILURE, "Invalid Attribute Value"),
    0x0107: (Category.WARNING, "Attribute List Error"),
    0x0110: (Category.FAILURE, "Processing Failure"),
    0x0111: (Category.FAILURE, "Duplicate SOP Instance"),
    0x0112: (Category.FAILURE, "No Such SOP Instance"),
    0x0113: (Category.FAILURE, "No Such Event Type"),
    0x0114: (Category.FAILURE, "No Such Argument"),
    0x0115: (Category.FAILURE, "Invalid Argument Value"),
    0x0116: (Category.WARNING, "Attribute Value Out of Range"),
    0x0117: (Category.FAILURE, "Invalid Object Instance"),
    0x0118: (Category.FAILURE, "No Such SOP Class"),
    0x0119: (Category.FAILURE, "Class-Instance Conflict"),
    0x0120: (Category.FAILURE, "Missing Attribute"),
    0x0121: (Category.FAILURE, "Missing Attribute Value"),
    0x0122: (Category.FAILURE, "Refused: SOP Class Not Supported"),
    0x0123: (Category.FAILURE, "No Such Action"),
    0x0124: (Category.FAILURE, "Refused: Not Authorized"),
    0x0210: (Category.FAILURE, "Duplicate Invocation"),
    0x0211: (Category.FAILURE, "Unrecognized Operation"),
    0x0212: (Category.FAILURE, "Mistyped Argument"),
    0x0213: (Category.FAILURE, "Resource Limitation"),
    0xFE00: (Category.CANCEL, ""),
}

# C-STORE (PS3.4 B.2.3): the standard's codes and ranges, then the three codes the region gives
# its own meanings within "Cannot Understand" (0xCxxx: "the specific meaning is implementation
# specific").
STORAGE_STATUS: StatusTable = {
    **dict.fromkeys(range(42752, 43008), (Category.FAILURE, "Refused: Out of Resources")),
    **dict.fromkeys(range(43264, 43520), (Category.FAILURE, "Error: Data Set Does Not Match SOP Class")),
    **dict.fromkeys(range(49152, 53248), (Category.FAILURE, "Error: Cannot Understand")),
    0xB000: (Category.WARNING, "Coercion of Data Elements"),
    0xB006: (Category.WARNING, "Elements Discarded"),
    0xB007: (Category.WARNING, "Data Set Does Not Match SOP Class"),
    **GENERAL_STATUS,
    0xC210: (Category.FAILURE, "Cannot Understand: the object cannot be decoded, or lacks its identity"),
    0xC211: (Category.FAILURE, "Cannot Understand: different bytes under a SOP Instance UID the region holds"),
    0xC212: (Category.FAILURE, "Cannot Understand: the object names a study the region holds for another patient"),
}


class Status(IntEnum):
    """The statuses the region's listener sends, each in its table above."""

    SUCCESS = 0x0000  # stored, or an identical re-send; an echo; a commitment request taken
    PROCESSING_FAILURE = 0x0110  # a failure of ours the sender cannot mend
    MISSING_ATTRIBUTE = 0x0120  # a commitment request without its Transaction UID or references
    SOP_CLASS_NOT_SUPPORTED = 0x0122  # a C-STORE on a presentation context of another SOP class
    NO_SUCH_ACTION = 0x0123  # an N-ACTION that is not a storage commitment request
    UNRECOGNIZED_OPERATION = 0x0211  # a DIMSE service the listener does not provide
    OUT_OF_RESOURCES = 0xA700  # storage or database unavailable, or the listener stopping: send again
    SOP_CLASS_MISMATCH = 0xA900  # the data set is not the SOP class or instance the command names
    CANNOT_UNDERSTAND = 0xC210  # the region's meaning (STORAGE_STATUS)
    CONFLICT = 0xC211  # the region's meaning; the stored copy is kept
    OTHER_PATIENT = 0xC212  # the region's meaning


def category(code: int, table: StatusTable = STORAGE_STATUS) -> Category | None:
    """The category of `code` in `table`; None for a code the table does not hold."""
    found = table.get(code)
    return found[0] if found else None


# ---------------------------------------------------------------- failure reasons


class FailureReason(IntEnum):
    """Failure Reason (0008,1197) of a Failed SOP Sequence item: in a Storage Commitment report
    (PS3.4 J.3.3) and in a STOW-RS response (PS3.18 I.2.2, Table I.2-2)."""

    PROCESSING_FAILURE = 0x0110
    NO_SUCH_OBJECT_INSTANCE = 0x0112  # commitment: the region holds no such instance (for this hospital)
    CLASS_INSTANCE_CONFLICT = 0x0119  # commitment: it holds it under another SOP class
    OUT_OF_RESOURCES = 0xA700  # STOW-RS: storage or database unavailable, send again
    SOP_CLASS_MISMATCH = 0xA900  # STOW-RS: Data Set does not match SOP Class
    CANNOT_UNDERSTAND = 0xC000  # STOW-RS: the part cannot be read, names another study or patient, or conflicts


# ---------------------------------------------------------------- Error Comments


class ErrorComment(StrEnum):
    """Error Comments (0000,0902) the listener writes itself; `{...}` is filled in with `format`."""

    STOPPING = "the listener is stopping; send again shortly"
    AE_TITLE_GONE = "the calling AE title is no longer registered"
    CANNOT_SPOOL = "cannot spool the object: {reason}"
    UNEXPECTED = "unexpected error: {error}"
    INSTANCE_MISMATCH = "SOPInstanceUID differs from the C-STORE request's"
    WRONG_CONTEXT = "presentation context {context_id} is not for {sop_class}"
