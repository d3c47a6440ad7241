"""A small internal audit end to end: plan it, start it, fill three checklist items inline,
raise a minor nonconformity and open a corrective action on it."""

import re

import pytest
from playwright.sync_api import Page, expect

from seed.demo import DEMO_PASSWORD
from tests.factories import ARTIFACTS

pytestmark = pytest.mark.browser


def test_plan_run_and_follow_up_an_audit(page: Page, live_server: str) -> None:
    page.context.clear_cookies()
    page.goto(live_server + "/login")
    page.get_by_label("邮箱").fill("admin@demo.example.com")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server + "/")

    page.goto(live_server + "/audits")
    page.locator("#plan-audit").click()
    page.get_by_label("标题").fill("浏览器端到端审核")
    page.get_by_label("审核组长").select_option(label="陈静（内审员）")
    page.get_by_label("计划开始").fill("2026-12-01")
    page.get_by_label("计划结束").fill("2026-12-02")
    page.get_by_label("4.4.3.3 文件化信息的控制").check()
    page.get_by_label("7.6 信息安全").check()
    page.locator("#audit-form").get_by_label("信息中心", exact=True).check()
    page.locator("#audit-form").get_by_label("生产部", exact=True).check()
    page.get_by_role("button", name="保存").click()

    expect(page.get_by_role("heading", name="浏览器端到端审核")).to_be_visible()
    page.get_by_role("button", name="开始审核").click()
    expect(page.locator("#audit-status")).to_have_text("进行中")
    page.locator("#open-checklist").click()
    items = page.locator(".checklist-item")
    expect(items).to_have_count(4)

    # Two conforming items by keyboard-free clicks, each saved inline without a reload.
    for index in (0, 1):
        items.nth(index).get_by_text("符合", exact=True).click()
        expect(items.nth(index)).to_have_class(re.compile(r"result-conforming"))
    third = items.nth(2)
    third.get_by_text("一般不符合", exact=True).click()
    expect(third.locator(".field-error")).to_contain_text("请描述审核发现")
    # Type only once htmx has settled the swapped row, as a person would: typing into it
    # during the swap's settle step left the note without a change event now and then.
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    third.get_by_placeholder("看到、听到、查阅到了什么？").fill("信息安全检查记录缺少签字")
    third.get_by_placeholder("看到、听到、查阅到了什么？").blur()
    nc_link = page.locator(".checklist-item").nth(2).get_by_role("link", name="不符合 #")
    expect(nc_link).to_be_visible()
    expect(page.locator("#checklist-progress")).to_contain_text("4 个检查项中已有")
    page.screenshot(path=str(ARTIFACTS / "audit-checklist.png"), full_page=True)

    nc_link.click()
    expect(page.locator("h1")).to_contain_text("信息安全")
    actions = page.locator("#nc-actions")
    actions.locator("[name=description]").fill("补充签字并在检查表模板中增加签字栏")
    actions.locator("[name=due_date]").fill("2026-12-20")
    actions.locator("button[type=submit]").last.click()
    expect(page.locator("#action-table")).to_contain_text("补充签字并在检查表模板中增加签字栏")
    page.screenshot(path=str(ARTIFACTS / "audit-nonconformity.png"), full_page=True)
