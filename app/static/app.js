// Ronghe page behaviour: toasts for saves and errors. No inline scripts (the CSP forbids them).
(function () {
  "use strict";

  function showToast(message, level) {
    if (!message) return;
    var container = document.getElementById("toasts");
    var toast = document.createElement("div");
    toast.className = "toast align-items-center border-0 text-bg-" + (level === "error" ? "danger" : "success");
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    var row = document.createElement("div");
    row.className = "d-flex";
    var body = document.createElement("div");
    body.className = "toast-body";
    body.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close btn-close-white me-2 m-auto";
    close.setAttribute("data-bs-dismiss", "toast");
    close.setAttribute("aria-label", "×");
    row.appendChild(body);
    row.appendChild(close);
    toast.appendChild(row);
    container.appendChild(toast);
    new bootstrap.Toast(toast, { delay: level === "error" ? 8000 : 4000 }).show();
    toast.addEventListener("hidden.bs.toast", function () { toast.remove(); });
  }

  document.addEventListener("showToast", function (event) {
    showToast(event.detail.message, event.detail.level);
  });

  // Errors that are not form re-renders come back as short plain text (see app/web/error_pages.py);
  // form errors (422 HTML) are swapped in next to their fields instead.
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.status < 400) return;
    var plain = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/plain") === 0;
    if (plain) showToast(xhr.responseText, "error");
    else if (xhr.status !== 422 && xhr.status !== 409) showToast(xhr.status + " " + xhr.statusText, "error");
  });

  // After htmx pushes a new URL (e.g. filters), the language switch returns to that URL.
  document.addEventListener("htmx:pushedIntoHistory", function () {
    var here = window.location.pathname + window.location.search;
    document.querySelectorAll("input[data-current-url]").forEach(function (input) { input.value = here; });
  });

  document.addEventListener("htmx:sendError", function () {
    showToast(document.body.dataset.offlineMessage || "Network error", "error");
  });

  document.addEventListener("DOMContentLoaded", function () {
    showToast(document.body.dataset.toast, "success");
    // <details> chapters: remember which ones the user opened while filtering.
    document.querySelectorAll("[data-expand-all]").forEach(function (button) {
      button.addEventListener("click", function () {
        var open = button.dataset.expandAll === "open";
        document.querySelectorAll("details.chapter").forEach(function (d) { d.open = open; });
      });
    });
  });

  // Fields that reveal a companion when a value is chosen (e.g. exclusion reason).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target.matches || !target.matches("[data-toggles]")) return;
    var companion = document.getElementById(target.dataset.toggles);
    if (companion) companion.hidden = target.value !== target.dataset.showWhen;
  });
})();

