"""Exceptions every service agrees on.

Actors raise `PermanentJobError` for failures a retry cannot fix (bad data, CAPTCHA, refused login,
opted-out number): the broker does not retry them and the job's error message is shown to the user.
Anything else that escapes an actor is treated as transient and retried with backoff.
"""


class PermanentJobError(Exception):
    """A failure that retrying will not fix. Its message is shown to the front end."""


class JobCancelled(Exception):
    """Raised by an actor at a safe point after the user asked to cancel its job."""


class InfrastructureUnavailable(Exception):
    """Redis or the database did not answer; the API turns this into a 503."""
