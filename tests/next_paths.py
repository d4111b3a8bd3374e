"""Values of ``?next=`` for the open-redirect tests, as the server receives them (the query
string already decoded once). One table for the server rule (core.web.safe_next_path), the
pages that render its verdict, and the pages' own fallback (safeLocalPath in static/js/ui.js)."""

HOSTILE = [
    "/\t/evil.example",  # the reported one: ?next=/%09/evil.example
    "/%09/evil.example",  # …encoded once more
    "/%2509/evil.example",  # …and again
    "/\n/evil.example",
    "/\r/evil.example",
    "/\x00/evil.example",
    "/\x1f/evil.example",
    "/\x7f/x",
    "/account\t",
    "\t/account",
    " /x",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%5Cevil.example",
    "/%255Cevil.example",
    "//evil.example",
    "///evil.example",
    "/%2F/evil.example",  # decodes to ///evil.example
    "/%2f%2fevil.example",
    "/%252F%252Fevil.example",
    "/account?next=//evil.example",
    "/account?next=%2F%2Fevil.example",
    "https://evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "account",
    "",
]

SAFE = [
    "/account",
    "/account/activity",
    "/account#devices",
    "/account/backup?prompt=1&next=%2Faccount%2Factivity",
    "/account/notifications?after_signin=1&next=%2Faccount%2Fbackup%3Fprompt%3D1",
    "/a%20b",
    "/caf%C3%A9",
    "/100%",
    "/%zz",
]
