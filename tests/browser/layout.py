"""What every page must do on a phone: fit the screen, with nothing cut off."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Elements that reach past the screen's edges, unless a box that scrolls sideways holds them
# (a wide table in its own scrolling box is fine: the page itself must not scroll sideways).
CUT_OFF = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (node) => ["auto", "scroll"].includes(getComputedStyle(node).overflowX);
  const inScrollBox = (node) => {
    for (let up = node.parentElement; up; up = up.parentElement) {
      if (up === document.body || up === document.documentElement) return false;
      if (scrolls(up)) return true;
    }
    return false;
  };
  return [...document.body.querySelectorAll("*")]
    .filter((node) => {
      const box = node.getBoundingClientRect();
      return box.width > 0 && (box.left < -1 || box.right > width + 1) && !inScrollBox(node);
    })
    .map((node) => node.tagName.toLowerCase() + (node.className ? "." + node.className : "")
      + " " + (node.textContent || "").trim().slice(0, 40));
}"""


def assert_fits(page: Page) -> None:
    """No sideways scrolling of the page and nothing past its edges."""
    sizes = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert sizes[0] <= sizes[1], f"{page.url}: the page is {sizes[0]} px wide on {sizes[1]} px"
    assert page.evaluate(CUT_OFF) == [], f"{page.url}: cut off"
