"""Log filters: a shared link's token never reaches a log line."""

import logging
import re

SHARE_TOKEN = re.compile(r"/s/[A-Za-z0-9_-]{16,}")


class RedactShareTokens(logging.Filter):
    """Replace `/s/<token>` in a record's message (access lines, 404 warnings) before it is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/s/" in message:
            redacted = SHARE_TOKEN.sub("/s/<token>", message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True
