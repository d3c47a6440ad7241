"""The administrator builds the submission dossier and watches it finish without reloading."""

import pytest
from playwright.sync_api import Page, expect

from seed.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def test_build_a_dossier_and_share_it(page: Page, live_server: str) -> None:
    page.context.clear_cookies()
    page.goto(live_server + "/login")
    page.get_by_label("邮箱").fill("admin@demo.example.com")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_server + "/")

    page.goto(live_server + "/dossiers")
    page.locator("#build-dossier").click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    # The progress region polls by itself until the archive is ready.
    expect(page.locator("#download-dossier")).to_be_visible(timeout=60_000)
    expect(page.locator("#dossier-status")).to_have_text("可下载")

    page.get_by_label("提供给").fill("评定机构审核组")
    page.get_by_role("button", name="生成链接").click()
    link = page.locator("#new-link").inner_text()
    browser = page.context.browser
    assert browser is not None
    assessor = browser.new_context()
    visit = assessor.new_page()
    visit.goto(link)
    expect(visit.locator("#dossier-files")).to_contain_text("manifest.sha256")
    expect(visit.locator("#dossier-files")).to_contain_text("reports/internal-audit.pdf")
    assessor.close()
