"""An owner uploads evidence in the Chinese UI; after approval the clause shows as covered."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from seed.demo import DEMO_PASSWORD
from tests.factories import ARTIFACTS

pytestmark = pytest.mark.browser


def _sign_in(page: Page, live_server: str, email: str) -> None:
    page.context.clear_cookies()
    page.goto(live_server + "/login")
    page.get_by_label("邮箱").fill(email)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server + "/")


def test_upload_approve_and_clause_turns_covered(
    page: Page, live_server: str, tmp_path: Path
) -> None:
    _sign_in(page, live_server, "owner@demo.example.com")
    # 10.2 持续改进 has no evidence in the demo.
    page.goto(live_server + "/requirements")
    chapter = page.locator("details.chapter", has_text="改进")
    chapter.locator("summary").click()
    row = chapter.locator("tr", has_text="持续改进")
    expect(row.locator("[data-coverage]")).to_have_attribute("data-coverage", "0")

    page.goto(live_server + "/evidence/new")
    page.get_by_label("标题").fill("2026 年持续改进项目清单")
    page.locator("#kind").select_option("record")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("heading", name="2026 年持续改进项目清单")).to_be_visible()

    file = tmp_path / "持续改进项目清单.txt"
    file.write_text("持续改进项目：MES 报工移动化、质量追溯赋码。\n", encoding="utf-8")
    page.locator("#upload-file").set_input_files(str(file))
    page.get_by_role("button", name="上传").click()
    expect(page.locator("#revision-history")).to_contain_text("持续改进项目清单.txt")
    expect(page.locator("#toasts")).to_contain_text("1")

    page.locator("#link-requirement").select_option(label="10.2 持续改进")
    page.get_by_role("button", name="关联", exact=True).click()
    page.get_by_role("button", name="提交修订版 1 审核").click()
    expect(page.locator("#evidence-status")).to_have_text("审核中")
    evidence_url = page.url

    _sign_in(page, live_server, "admin@demo.example.com")
    page.goto(evidence_url)
    page.get_by_role("button", name="批准修订版 1").click()
    expect(page.locator("#evidence-status")).to_have_text("已批准")

    page.goto(live_server + "/requirements")
    chapter = page.locator("details.chapter", has_text="改进")
    chapter.locator("summary").click()
    covered = chapter.locator("tr", has_text="持续改进").locator("[data-coverage]")
    expect(covered).to_have_attribute("data-coverage", "2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "evidence-covered-zh.png"), full_page=True)
