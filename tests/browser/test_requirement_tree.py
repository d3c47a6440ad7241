"""The demo administrator signs in in Chinese, works the clause tree, switches to English."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from seed.demo import DEMO_PASSWORD
from tests.factories import ARTIFACTS

pytestmark = pytest.mark.browser


def test_admin_works_the_clause_tree_in_both_languages(page: Page, live_server: str) -> None:
    page.goto(live_server + "/requirements")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()
    page.get_by_label("邮箱").fill("admin@demo.example.com")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()

    expect(page).to_have_url(live_server + "/requirements")
    expect(page.get_by_role("heading", name="要求条款")).to_be_visible()
    chapter = page.locator("details.chapter", has_text="领导作用")
    policy = chapter.get_by_role("link", name="两化融合方针")
    expect(policy).to_be_hidden()
    chapter.locator("summary").click()
    expect(policy).to_be_visible()

    # A filter narrows the tree in place through htmx, and the URL follows.
    page.locator("#f-status").select_option("implemented")
    expect(page).to_have_url(re.compile(r"/requirements\?status=implemented"))
    expect(page.locator("#requirement-tree")).to_contain_text("两化融合方针")
    expect(page.locator("#requirement-tree")).not_to_contain_text("信息安全")

    page.locator("#user-menu").click()
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Requirements")).to_be_visible()
    expect(page.locator("#requirement-tree")).to_contain_text("IIMS policy")
    # The filter survived the language switch: the page came back to the filtered URL.
    expect(page.locator("#requirement-tree")).not_to_contain_text("Information security")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "requirement-tree-en.png"), full_page=True)


def test_inline_status_save_shows_a_toast(page: Page, live_server: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("邮箱").fill("admin@demo.example.com")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    # The first test left this account on English; the language menu brings Chinese back.
    page.locator("#user-menu").click()
    page.get_by_role("button", name="中文").click()
    page.goto(live_server + "/requirements")
    chapter = page.locator("details.chapter", has_text="支持")
    chapter.locator("summary").click()
    chapter.get_by_role("link", name="资金投入").click()
    page.locator("#applicable").select_option("false")
    expect(page.locator("#exclusion_reason")).to_be_visible()
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#exclusion_reason-error")).to_be_visible()
    page.locator("#exclusion_reason").fill("本公司资金由集团统一拨付，不单独设立两化融合专项。")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#toasts")).to_contain_text("已保存")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "requirement-detail-zh.png"), full_page=True)


def _sign_in(page: Page, live_server: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("邮箱").fill("admin@demo.example.com")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(re.compile(r"/requirements$|/$"))


def test_expand_all_loads_every_chapter(page: Page, live_server: str) -> None:
    _sign_in(page, live_server)
    page.goto(live_server + "/requirements")
    chapters = page.locator("details.chapter")
    expect(chapters.first).to_be_visible()
    expect(page.locator("details.chapter tr[id^=clause-]")).to_have_count(0)
    page.locator("[data-expand-all=open]").click()
    # Each chapter fetched its clauses when it opened: all 38 clauses of GB/T 23001.
    expect(page.locator("details.chapter tr[id^=clause-]")).to_have_count(38)


def test_without_javascript_a_chapter_opens_through_its_link(
    browser: Browser, live_server: str
) -> None:
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    try:
        _sign_in(page, live_server)
        page.goto(live_server + "/requirements")
        # Selectors, not words: an earlier test may have left this account on English.
        chapter = page.locator("details.chapter").nth(3)
        chapter.locator("summary").press("Enter")  # the keyboard opens it like a click
        chapter.locator("div[id^=clauses-] a").click()
        expect(page).to_have_url(re.compile(r"open=\d+#chapter-\d+$"))
        opened = page.locator("details.chapter[open]")
        expect(opened).to_have_count(1)
        expect(opened.locator("tr[id^=clause-]")).to_have_count(6)  # 支持: six clauses
        expect(opened.locator("tr[id^=clause-] a").first).to_be_visible()
    finally:
        context.close()
