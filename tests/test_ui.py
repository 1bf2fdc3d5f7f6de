"""The drawing page in a real headless Chromium (Debian's), driven by Playwright."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support.browser import CHROMIUM, launch_chromium
from support.data import synthetic_digits
from support.project import PROJECT_ROOT as ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def page(request: pytest.FixtureRequest):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (make test does)")
    from playwright.sync_api import sync_playwright

    # DIGITS_URL points the test at a server started by hand (`make screenshot` does).
    url = os.environ.get("DIGITS_URL") or request.getfixturevalue("served_bento")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 900, "height": 560})
        page.goto(f"{url}/ui")
        yield page
        browser.close()


def check_shown(page) -> None:
    """The digit shown is the top bar's, marked "?" when unsure, or "?" alone with the reason
    for what does not look like a digit; the ten bars add up to 100%."""
    digit, confidence, shown = prediction_shown(page)
    assert len(shown) == 10 and sum(shown) == pytest.approx(100, abs=1)
    if digit == "?":
        assert "does not look like a digit" in confidence
    else:
        assert digit.endswith("?") == ("unsure" in confidence)  # hard to read, marked so
        assert shown[int(digit.rstrip("?"))] == max(shown)


def prediction_shown(page) -> tuple[str, str, list[float]]:
    """The digit, the confidence line and the ten percentages, read in one go: while drawing,
    a newer answer may replace the display between two separate reads."""
    digit, confidence, values = page.evaluate(
        "() => [document.querySelector('#digit').textContent,"
        " document.querySelector('#confidence').textContent,"
        " [...document.querySelectorAll('#bars .value')].map((e) => e.textContent)]"
    )
    return digit, confidence, [float(value.rstrip("%")) for value in values]


def test_drawing_shows_a_prediction_with_ten_probabilities(page, tmp_path: Path) -> None:
    box = page.locator("#pad").bounding_box()
    stroke = [(0.25, 0.2), (0.75, 0.2), (0.5, 0.85)]  # a "7"
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for x, y in stroke[1:]:
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=12)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#digit').textContent.length > 0")
    page.wait_for_function("document.querySelector('#preprocessed').naturalWidth === 28")
    check_shown(page)
    screenshot = Path(os.environ.get("UI_SCREENSHOT", tmp_path / "ui.png"))
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000

    page.click("#clear")
    assert page.locator("#digit").inner_text() == ""


def draw(page, strokes: list[list[tuple[float, float]]]) -> None:
    """Pen strokes on the pad, in fractions of its width and height."""
    box = page.locator("#pad").bounding_box()
    for stroke in strokes:
        (x, y), *rest = stroke
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=10)
        page.mouse.up()


FOUR = [[(0.16, 0.12), (0.1, 0.6), (0.34, 0.6)], [(0.27, 0.3), (0.27, 0.9)]]
TWO = [[(0.55, 0.3), (0.65, 0.14), (0.78, 0.2), (0.78, 0.4), (0.56, 0.86), (0.84, 0.86)]]


def test_writing_a_number_shows_it_with_a_box_per_digit(page, tmp_path: Path) -> None:
    page.check("#mode input[value='number']")
    assert page.locator("#pad").bounding_box()["width"] > 500  # a wide pad to write on
    draw(page, FOUR + TWO)
    page.wait_for_function("document.querySelector('#seen').dataset.boxes === '2'")
    number = page.locator("#number").inner_text().rstrip("?")
    assert len(number) == 2 and number.isdigit()
    assert page.locator("#digits li").count() == 2
    assert all("%" in item for item in page.locator("#digits li").all_inner_texts())
    if os.environ.get("DIGITS_URL"):  # a served model trained on MNIST (make screenshot)
        assert number == "42"
    screenshot = Path(os.environ.get("UI_NUMBER_SCREENSHOT", tmp_path / "number.png"))
    page.screenshot(path=str(screenshot), full_page=True)  # the boxes sit below the wide pad
    page.click("#clear")
    assert page.locator("#number").inner_text() == ""

    photo = tmp_path / "number.png"  # an upload is read as a number too
    photo.write_bytes(number_page())
    page.set_input_files("#file", str(photo))
    page.wait_for_function("document.querySelector('#seen').dataset.boxes === '3'")
    assert len(page.locator("#number").inner_text().rstrip("?")) == 3
    page.check("#mode input[value='digit']")


def number_page() -> bytes:
    """Three digits of the test data apart on white paper, PNG."""
    digits = [255 - image for image in synthetic_digits(3, seed=5)[0]]
    paper = Image.new("L", (3 * 140 + 80, 180), 255)
    for index, digit in enumerate(digits):
        paper.paste(Image.fromarray(digit).resize((120, 120)), (40 + 140 * index, 30))
    buffer = io.BytesIO()
    paper.save(buffer, "PNG")
    return buffer.getvalue()


def test_uploading_a_photo_shows_its_prediction(page, tmp_path: Path) -> None:
    digit = Image.fromarray(255 - synthetic_digits(1, seed=4)[0][0]).resize((200, 200))
    photo = tmp_path / "photo.jpg"
    digit.convert("RGB").save(photo, "JPEG")
    page.set_input_files("#file", str(photo))
    page.wait_for_function("document.querySelector('#digit').textContent.length > 0")
    check_shown(page)
    page.wait_for_function("document.querySelector('#uploaded').naturalWidth === 200")

    blank = tmp_path / "blank.png"
    Image.new("L", (120, 120), 255).save(blank)
    page.set_input_files("#file", str(blank))
    page.wait_for_function("document.querySelector('#confidence').textContent.includes('no digit')")
    assert page.locator("#digit").inner_text() == ""

    junk = tmp_path / "notes.txt"
    junk.write_bytes(b"not an image")
    page.set_input_files("#file", str(junk))
    page.wait_for_function("document.querySelector('#status').textContent.length > 0")
    assert "not a supported image" in page.locator("#status").inner_text()


def test_a_correction_clicked_on_the_page_waits_in_review(page, request, tmp_path: Path) -> None:
    if os.environ.get("DIGITS_URL"):
        pytest.skip("reads the prediction log of the served fixture")
    log = request.getfixturevalue("served_bento_log")
    digit = Image.fromarray(255 - synthetic_digits(1, seed=8)[0][0]).resize((160, 160))
    photo = tmp_path / "eight.png"
    digit.save(photo)
    page.set_input_files("#file", str(photo))
    page.wait_for_function("!document.querySelector('#correct').hidden")
    _, _, shown = prediction_shown(page)  # the digit named, even when shown as "?" (not a digit)
    answered = str(shown.index(max(shown)))
    chosen = "3" if answered != "3" else "5"
    page.click(f"#choices button[data-digit='{chosen}']")
    page.wait_for_function("document.querySelector('#thanks').textContent.includes('saved')")
    assert f"saved as {chosen}, waiting for review" in page.locator("#thanks").inner_text()
    assert page.locator(f"#choices button[data-digit='{chosen}']").is_disabled()

    env = {**os.environ, "DIGITS_PREDICTION_LOG": str(log), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "digits.review", "list"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert f"answered {answered} at" in done.stdout
    assert f"proposed: {chosen}" in done.stdout
