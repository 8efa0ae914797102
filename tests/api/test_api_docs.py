"""The OpenAPI document and the browsable docs, served by the console itself (no CDN)."""

import pytest


def test_the_openapi_document_lists_every_seed_operation(client, db):
    response = client.get("/v2/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations >= {
        ("POST", "/v3/auth/tokens"),
        ("GET", "/v2/{project_id}/training-job-flavors"),
        ("GET", "/v2/{project_id}/job/training-job-engines"),
        ("POST", "/v2/{project_id}/algorithms"),
        ("GET", "/v2/{project_id}/algorithms"),
        ("GET", "/v2/{project_id}/algorithms/{algorithm_id}"),
        ("PUT", "/v2/{project_id}/algorithms/{algorithm_id}"),
        ("DELETE", "/v2/{project_id}/algorithms/{algorithm_id}"),
        ("POST", "/v2/{project_id}/training-jobs"),
        ("GET", "/v2/{project_id}/training-jobs/{training_job_id}"),
        ("DELETE", "/v2/{project_id}/training-jobs/{training_job_id}"),
        ("POST", "/v2/{project_id}/training-job-searches"),
        ("POST", "/v2/{project_id}/training-jobs/{training_job_id}/actions"),
        ("GET", "/v2/{project_id}/training-jobs/{training_job_id}/tasks/{task_id}/logs/url"),
        ("GET", "/v2/{project_id}/training-jobs/{training_job_id}/metrics/{task_id}"),
        ("POST", "/v2/{project_id}/agency"),
        ("POST", "/v2/{project_id}/authorizations"),
        ("GET", "/v2/{project_id}/authorizations"),
        ("DELETE", "/v2/{project_id}/authorizations"),
    }
    token = document["paths"]["/v3/auth/tokens"]["post"]
    assert "security" not in token or token["security"] == []
    assert set(token["responses"]["201"]["headers"]) == {"X-Request-Id", "X-Subject-Token"}
    assert document["components"]["securitySchemes"]["TokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
    }
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                assert "X-Request-Id" in response["headers"]


def test_the_docs_page_uses_local_assets_only(client, db):
    html = client.get("/v2/docs").content.decode()
    assert "/static/api/swagger/swagger-ui-bundle.js" in html
    assert "/v2/openapi.json" in html
    assert "cdn" not in html.lower() and "https://" not in html


@pytest.mark.browser
def test_the_docs_render_offline_in_a_browser(page, live_server, screenshot):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/v2/docs")
    page.locator(".opblock-summary-path", has_text="/v3/auth/tokens").first.wait_for()
    assert page.locator(".opblock").count() >= 19
    screenshot("api-docs")
    assert all(url.startswith(live_server.url) or url.startswith("data:") for url in requested), requested
