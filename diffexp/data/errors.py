"""The one exception the data layer raises for mistakes a user can fix."""

from __future__ import annotations

from diffexp.errors import UserError


class DataError(UserError, ValueError):
    """A data config key or data file is wrong; the message names it and says what to do."""
