"""Signing in and out in a real browser, and what a signed-out or forged request gets."""

from __future__ import annotations

import re

from console_harness import Served, SignIn, Visits
from playwright.sync_api import Browser, expect


def test_sign_in_by_link_then_sign_out(signed_in: SignIn, served: Served) -> None:
    page = signed_in("operator")
    assert "token=" not in page.url  # the fragment left the address bar
    expect(page.locator(".role")).to_have_attribute("data-role", "operator")
    page.click("header form button")
    expect(page).to_have_url(re.compile(r"/ui/sign-in\?signed_out=1$"))
    expect(page.locator(".notice")).to_contain_text("Bạn đã đăng xuất")
    page.goto("/ui/")
    expect(page).to_have_url(re.compile(r"/ui/sign-in\?next=/ui/$"))


def test_sign_in_works_without_javascript(signed_in: SignIn) -> None:
    page = signed_in("auditor", javascript=False, lang="en")
    expect(page.locator("main h1")).to_have_text("Home")
    expect(page.locator(".role")).to_have_attribute("data-role", "auditor")


def test_a_wrong_token_is_refused(browser: Browser, served: Served, visits: Visits) -> None:
    context = browser.new_context(base_url=served.base_url)
    page = context.new_page()
    page.goto("/ui/sign-in#token=axt_not-a-token")
    page.click("#sign-in button")
    expect(page.locator(".error")).to_be_visible()
    visits.shot(page, "refused")
    assert "axis_session" not in {cookie["name"] for cookie in context.cookies()}
    context.close()


def test_a_post_without_the_csrf_token_is_refused(signed_in: SignIn, visits: Visits) -> None:
    page = signed_in("operator")
    page.evaluate("document.querySelector('header form input[name=csrf]').remove()")
    page.click("header form button")
    expect(page.locator("main h1")).to_have_text("Biểu mẫu bị từ chối")
    visits.shot(page, "csrf-refused")
    page.goto("/ui/")
    expect(page.locator(".role")).to_be_visible()  # still signed in: the POST did nothing


def test_a_signed_out_browser_reaches_no_page(browser: Browser, served: Served) -> None:
    context = browser.new_context(base_url=served.base_url)
    page = context.new_page()
    for path in ("/ui/",):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/ui/sign-in\?next="))
    context.close()
