"""The demo executive opens the strategy map, clicks a capability, sees its goal chart and table."""

import re

import pytest
from playwright.sync_api import Page, expect

from seed.demo import DEMO_PASSWORD
from tests.factories import ARTIFACTS

pytestmark = pytest.mark.browser

CAPABILITY = "生产过程透明化管控能力"

# Where ECharts drew a node, in page pixels (the graph is drawn on a canvas).
NODE_POSITION = """([chartId, name]) => {
  const el = document.getElementById(chartId);
  const chart = echarts.getInstanceByDom(el);
  const nodes = chart.getOption().series[0].data;
  const node = nodes.find(n => n.name === name);
  const [x, y] = chart.convertToPixel({seriesIndex: 0}, [node.x, node.y]);
  const box = el.getBoundingClientRect();
  return {x: box.left + x, y: box.top + y};
}"""


def test_executive_goes_from_strategy_map_to_goal_chart(page: Page, live_server: str) -> None:
    page.goto(live_server + "/login")
    page.get_by_label("邮箱").fill("ceo@demo.example.com")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("link", name="战略", exact=True).click()

    expect(page.locator("#strategy-map[data-drawn]")).to_be_attached()
    page.wait_for_timeout(600)  # the graph's entry animation
    point = page.evaluate(NODE_POSITION, ["strategy-map", CAPABILITY])
    page.mouse.click(point["x"], point["y"])

    expect(page).to_have_url(re.compile(r"/capabilities/\d+$"))
    expect(page.get_by_role("heading", name=CAPABILITY)).to_be_visible()
    first_goal = page.locator(".goal-card").first
    expect(first_goal.locator("canvas")).to_be_visible()
    first_goal.get_by_role("tab", name="表格").click()
    rows = first_goal.locator("table.goal-table tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 20  # two years of monthly values
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "capability-goals-zh.png"), full_page=True)
