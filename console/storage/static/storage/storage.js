// Storage: the folder picker dialog and streamed browser uploads with a progress bar per file.
// Loaded by the storage page and by every FolderPickerWidget; runs once per page.
(function () {
  "use strict";
  if (window.__consoleStorage) return;
  window.__consoleStorage = true;

  // --- folder picker ------------------------------------------------------------

  function openPicker(opener) {
    var id = opener.getAttribute("data-picker-open");
    var input = document.getElementById(id);
    var dialog = document.getElementById(id + "-picker");
    var slot = document.getElementById(id + "-picker-slot");
    if (!input || !dialog || !slot) return;
    var params = new URLSearchParams({ field: id, path: (input.value || "").trim() });
    slot.innerHTML = '<p class="muted">' + (opener.getAttribute("data-loading") || "…") + "</p>";
    dialog.showModal();
    window.htmx.ajax("GET", opener.getAttribute("data-picker-url") + "?" + params.toString(), {
      target: slot,
      swap: "innerHTML",
    });
  }

  function selectFolder(button) {
    var field = document.getElementById(button.getAttribute("data-picker-field"));
    if (!field) return;
    field.value = button.getAttribute("data-picker-select");
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
    var dialog = button.closest("dialog");
    if (dialog) {
      dialog.close();
      var slot = dialog.querySelector(".picker-slot");
      if (slot) slot.innerHTML = ""; // no stale tree (and no duplicate ids) next time
    }
    field.focus();
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-picker-open]");
    if (opener) {
      event.preventDefault();
      openPicker(opener);
      return;
    }
    var select = event.target.closest("[data-picker-select]");
    if (select) {
      event.preventDefault();
      selectFolder(select);
    }
  });

  // --- uploads --------------------------------------------------------------------

  var MAX_PARALLEL = 2;
  var queue = [];
  var running = 0;
  var batches = {}; // folder -> files still to finish, to refresh the table once

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function humanSize(bytes) {
    // Binary units, labelled as such (as console.core.sizes does on the server).
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    var value = bytes;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? value : value.toFixed(1)) + "\u00a0" + units[unit];
  }

  function text(page, name, fallback) {
    return page.getAttribute("data-text-" + name) || fallback;
  }

  function makeRow(name) {
    var panel = document.getElementById("upload-panel");
    var list = document.getElementById("upload-list");
    panel.hidden = false;
    var row = document.createElement("li");
    row.className = "upload-row";
    var label = document.createElement("span");
    label.className = "upload-name";
    label.textContent = name;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    var status = document.createElement("span");
    status.className = "upload-status";
    row.appendChild(label);
    row.appendChild(bar);
    row.appendChild(status);
    list.appendChild(row);
    return { row: row, bar: bar, status: status };
  }

  function fail(view, message) {
    view.row.classList.add("failed");
    view.status.textContent = view.failedText;
    var error = document.createElement("p");
    error.className = "upload-error";
    error.setAttribute("role", "alert");
    error.textContent = message;
    view.row.appendChild(error);
  }

  function finished(job) {
    running -= 1;
    batches[job.folder] -= 1;
    if (batches[job.folder] === 0) {
      delete batches[job.folder];
      refreshTable(job.folder);
    }
    pump();
  }

  function refreshTable(folder) {
    var page = document.getElementById("storage-page");
    if (!page || page.getAttribute("data-current-folder") !== folder) return;
    var url = page.getAttribute("data-browser-url") + "?" + new URLSearchParams({ path: folder, fragment: "storage-table" });
    window.htmx.ajax("GET", url, { target: "#storage-table", swap: "outerHTML" });
  }

  function start(job) {
    running += 1;
    var view = job.view;
    var xhr = new XMLHttpRequest();
    var params = new URLSearchParams({ path: job.folder, name: job.name });
    xhr.open("POST", job.url + "?" + params.toString());
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    // Raw bytes, never a form: the server streams the body to storage as it arrives.
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.onprogress = function (event) {
      if (!event.lengthComputable) return;
      var percent = Math.floor((event.loaded / event.total) * 100);
      view.bar.value = percent;
      view.status.textContent = percent + "%";
    };
    xhr.onload = function () {
      if (xhr.status === 200) {
        view.bar.value = 100;
        view.row.classList.add("done");
        view.status.textContent = view.doneText;
      } else {
        var message = xhr.statusText || String(xhr.status);
        try {
          message = JSON.parse(xhr.responseText).error || message;
        } catch (e) { /* not JSON: keep the status text */ }
        fail(view, message);
      }
      finished(job);
    };
    xhr.onerror = function () {
      fail(view, view.networkText);
      finished(job);
    };
    view.status.textContent = "0%";
    xhr.send(job.file);
  }

  function pump() {
    while (running < MAX_PARALLEL && queue.length) start(queue.shift());
  }

  document.addEventListener("change", function (event) {
    var input = event.target.closest("[data-upload-input]");
    if (!input) return;
    var page = document.getElementById("storage-page");
    var folder = page.getAttribute("data-current-folder");
    var max = Number(page.getAttribute("data-max-upload"));
    var files = Array.prototype.slice.call(input.files);
    input.value = ""; // the same files can be chosen again
    files.forEach(function (file) {
      // A folder upload keeps its structure: "weights/config.json".
      var name = file.webkitRelativePath || file.name;
      var view = makeRow(name);
      view.doneText = text(page, "done", "Done");
      view.failedText = text(page, "failed", "Failed");
      view.networkText = text(page, "network", "Network error: nothing was stored.");
      if (file.size > max) {
        // Refused before a byte is sent (the seed: 5 GB per browser upload).
        var message = text(page, "over-limit", "")
          .replace("__NAME__", name)
          .replace("__SIZE__", humanSize(file.size));
        fail(view, message);
        return;
      }
      batches[folder] = (batches[folder] || 0) + 1;
      queue.push({ file: file, name: name, folder: folder, url: page.getAttribute("data-upload-url"), view: view });
    });
    pump();
  });

  // Closing the panel hides finished rows; running uploads keep their rows.
  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-upload-panel-close]")) return;
    var list = document.getElementById("upload-list");
    Array.prototype.slice.call(list.children).forEach(function (row) {
      if (row.classList.contains("done") || row.classList.contains("failed")) row.remove();
    });
    if (!list.children.length) document.getElementById("upload-panel").hidden = true;
  });

  // Warn before leaving while uploads run: closing the page stops them.
  window.addEventListener("beforeunload", function (event) {
    if (running > 0 || queue.length > 0) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // --- bucket form: S3 settings only for S3 buckets ----------------------------------

  function syncKind(select) {
    var form = select.form;
    var fieldset = form && form.querySelector("[data-s3-settings]");
    if (fieldset) fieldset.hidden = select.value !== "s3";
  }

  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-bucket-kind]");
    if (select) syncKind(select);
  });

  function init(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-bucket-kind]").forEach(syncKind);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) { init(event.target); });
})();
