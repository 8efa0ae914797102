"""In Chromium: a member selects jobs in the list and compares them (curves overlaid, differences marked)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.training.compare_fixtures import lab, log_scalars, make_job  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser]


def test_a_member_compares_three_jobs(lab, sign_in_page, live_server, screenshot):
    jobs = [
        make_job(lab, "lr-1e-1", lr="0.1"),
        make_job(lab, "lr-3e-2", lr="0.03"),
        make_job(lab, "lr-1e-2", lr="0.01"),
    ]
    make_job(lab, "not-chosen")
    # Different lengths and steps: the curves still overlay on one x-axis.
    log_scalars(jobs[0], "loss", [2.3 * 0.93**i for i in range(30)], every=2)
    log_scalars(jobs[1], "loss", [2.3 * 0.96**i for i in range(80)])
    log_scalars(jobs[2], "loss", [2.3 * 0.985**i for i in range(100)])
    for job, rate in zip(jobs, (0.012, 0.008, 0.004), strict=True):
        log_scalars(job, "accuracy", [min(0.99, 0.3 + rate * i) for i in range(60)])
    project_id = lab["project"].project_id
    page = sign_in_page("mia")
    page.goto(f"{live_server.url}/projects/{project_id}/training/jobs/")

    # One job is not a comparison: refused with the rule.
    page.check(f"#compare-{jobs[0].uuid}")
    page.click("#compare-button")
    expect(page.locator(".flash-error")).to_contain_text("Select from 2 to 5 jobs to compare; 1 were selected.")

    # Metric columns, chosen in the filter bar, sorted by the best loss (lowest first).
    page.fill("input[name=metric]", "loss, accuracy")
    expect(page.locator('th[data-metric-column="loss"]')).to_be_visible()
    page.locator('th[data-metric-column="loss"] a', has_text="best").click()
    expect(page.locator("#job-table .job-name").first).to_have_text("lr-3e-2")
    for job in jobs:
        page.check(f"#compare-{job.uuid}")
    screenshot("training-job-list-metric-columns")
    page.click("#compare-button")
    expect(page.locator("h1")).to_have_text("Compare 3 jobs")
    expect(page.locator("#compare-charts .uplot")).to_have_count(2)
    expect(page.locator('tr[data-parameter="lr"]')).to_have_class("differs")
    expect(page.locator('tr[data-metric="loss"] td.winner')).to_contain_text("0.091444")  # lr 0.03 ends lowest
    expect(page.locator("#compare-table")).not_to_contain_text("top-secret-123")
    # Every job's curve is drawn (a line, not gaps): the legend lists the three jobs on each chart.
    expect(page.locator("#compare-charts .uplot").first.locator(".u-legend .u-series")).to_have_count(4)
    page.locator("#compare-charts .uplot").first.hover()
    screenshot("training-compare-three-jobs")
