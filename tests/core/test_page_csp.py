"""``core.web.page_csp``: the one place a page's Content-Security-Policy varies (a consent page
whose form redirects to a website, the embedded sign-in a website may frame), and never into
something a stored origin could break out of."""

from __future__ import annotations

from core.web import PAGE_CSP, page_csp


def _directives(csp: str) -> dict[str, str]:
    return dict(d.split(" ", 1) for d in csp.split("; "))


def test_every_page_gets_the_strict_policy() -> None:
    directives = _directives(PAGE_CSP)
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["object-src"] == "'none'"


def test_a_form_may_also_leave_for_named_origins_only() -> None:
    csp = _directives(page_csp(form_action=["https://shop.example", "https://shop.example"]))
    assert csp["form-action"] == "'self' https://shop.example"
    assert {k: v for k, v in csp.items() if k != "form-action"} == {
        k: v for k, v in _directives(PAGE_CSP).items() if k != "form-action"
    }


def test_frame_ancestors_name_only_the_given_origins() -> None:
    csp = _directives(page_csp(frame_ancestors=["https://a.example", "http://localhost:8000"]))
    assert csp["frame-ancestors"] == "https://a.example http://localhost:8000"
    assert _directives(page_csp(frame_ancestors=[]))["frame-ancestors"] == "'none'"


def test_an_origin_that_could_end_a_directive_is_left_out() -> None:
    hostile = ["https://a.example; script-src *", "https://b.example 'unsafe-inline'", "*"]
    csp = page_csp(form_action=hostile, frame_ancestors=hostile)
    assert "unsafe-inline" not in csp and "script-src *" not in csp and " * " not in csp
    directives = _directives(csp)
    assert directives["frame-ancestors"] == "'none'" and directives["form-action"] == "'self'"
