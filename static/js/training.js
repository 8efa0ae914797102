// Training pages: ticking durations, live log tails, formset rows. htmx does the rest.
(function () {
  "use strict";

  // --- durations: elements with data-duration-start (epoch ms) tick every second until data-duration-end.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function hms(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    return pad(Math.floor(s / 3600)) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-duration-start]").forEach(function (el) {
      var start = parseInt(el.getAttribute("data-duration-start"), 10);
      if (!start) return;
      var end = parseInt(el.getAttribute("data-duration-end"), 10);
      el.textContent = hms((end || now) - start);
    });
  }
  setInterval(tick, 1000);

  // --- live log tail: poll the task's log endpoint while the task can still write.
  function escapeHtml(text) {
    return text.replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; });
  }
  function LogPanel(panel) {
    this.panel = panel;
    this.url = panel.getAttribute("data-log-url");
    this.after = parseInt(panel.getAttribute("data-after") || "0", 10);
    this.pollMs = parseInt(panel.getAttribute("data-poll-ms") || "700", 10);
    this.view = panel.querySelector("[data-log-view]");
    this.follow = panel.querySelector("[data-log-follow]");
    this.search = panel.querySelector("[data-log-search]");
    this.state = panel.querySelector("[data-log-state]");
    this.text = this.view.textContent;
    this.busy = false;
    var self = this;
    if (this.search) this.search.addEventListener("input", function () { self.render(); });
    this.render();
    if (panel.getAttribute("data-active") === "1") this.poll();
  }
  LogPanel.prototype.render = function () {
    var query = this.search ? this.search.value : "";
    if (!query) {
      this.view.textContent = this.text;
    } else {
      // Show only the matching lines, the match highlighted.
      var lower = query.toLowerCase();
      var lines = this.text.split("\n").filter(function (line) { return line.toLowerCase().indexOf(lower) !== -1; });
      var pattern = new RegExp(query.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gi");
      this.view.innerHTML = lines.map(function (line) {
        return escapeHtml(line).replace(pattern, function (m) { return "<mark>" + m + "</mark>"; });
      }).join("\n");
    }
    if (this.follow && this.follow.checked) this.view.scrollTop = this.view.scrollHeight;
  };
  LogPanel.prototype.poll = function () {
    var self = this;
    if (!document.body.contains(this.panel)) return;
    fetch(this.url + "?after=" + this.after, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
      .then(function (data) {
        if (data.text) {
          self.text += data.text;
          self.after = data.next;
          self.render();
        }
        if (self.state && data.status) {
          self.state.textContent = data.status + (data.node ? " · " + data.node : "") + (data.truncated ? " · " + self.panel.getAttribute("data-truncated-label") : "");
        }
        if (data.done) { self.panel.setAttribute("data-active", "0"); return; }
        setTimeout(function () { self.poll(); }, data.text ? 150 : self.pollMs);
      })
      .catch(function () { setTimeout(function () { self.poll(); }, self.pollMs * 3); });
  };
  function initLogs(root) {
    (root || document).querySelectorAll("[data-log-url]").forEach(function (panel) {
      if (!panel._logPanel) panel._logPanel = new LogPanel(panel);
    });
  }

  // --- formsets: <button data-add-form="prefix"> clones <template id="prefix-empty">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-form]");
    if (button) {
      var prefix = button.getAttribute("data-add-form");
      var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
      var template = document.getElementById(prefix + "-empty");
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      document.getElementById(prefix + "-rows").insertAdjacentHTML("beforeend", html);
      total.value = index + 1;
      return;
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var row = remove.closest(".formset-row");
      var flag = row.querySelector("input[name$='-DELETE']");
      if (flag) { flag.checked = true; row.style.display = "none"; }
    }
  });

  document.addEventListener("DOMContentLoaded", function () { tick(); initLogs(); });
  document.addEventListener("htmx:afterSettle", function (event) { tick(); initLogs(event.target); });
  if (document.readyState !== "loading") { tick(); initLogs(); }
})();
