// Drag-and-drop uploads with a progress bar. The server answers with the revisions fragment
// (see templates/evidence/detail.html), which replaces the old one. Without JavaScript the
// form posts normally and the whole page comes back.
(function () {
  "use strict";
  function toast(xhr) {
    var header = xhr.getResponseHeader("HX-Trigger");
    if (!header) return;
    var detail = JSON.parse(header).showToast;
    if (detail) document.dispatchEvent(new CustomEvent("showToast", { detail: detail }));
  }

  function bind(root) {
    root.querySelectorAll("form[data-upload]").forEach(function (form) {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      var zone = form.querySelector("[data-dropzone]");
      var input = form.querySelector("input[type=file]");
      ["dragenter", "dragover"].forEach(function (name) {
        zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("border-primary"); });
      });
      ["dragleave", "drop"].forEach(function (name) {
        zone.addEventListener(name, function () { zone.classList.remove("border-primary"); });
      });
      zone.addEventListener("drop", function (event) {
        event.preventDefault();
        if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
      });
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var bar = form.querySelector("[data-progress]");
        var fill = bar.querySelector(".progress-bar");
        var xhr = new XMLHttpRequest();
        xhr.open("POST", form.action);
        xhr.setRequestHeader("HX-Request", "true");
        xhr.setRequestHeader("HX-Target", "evidence-revisions");
        xhr.upload.addEventListener("progress", function (e) {
          if (!e.lengthComputable) return;
          var percent = Math.round((100 * e.loaded) / e.total);
          bar.hidden = false;
          bar.setAttribute("aria-valuenow", String(percent));
          fill.style.width = percent + "%";
          fill.textContent = percent + "%";
        });
        xhr.addEventListener("load", function () {
          var target = document.getElementById("evidence-revisions");
          if ((xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") === 0) {
            target.outerHTML = xhr.responseText;
            var fresh = document.getElementById("evidence-revisions");
            if (window.htmx) window.htmx.process(fresh);
            bind(fresh);
          } else if (xhr.status >= 400) {
            document.dispatchEvent(new CustomEvent("showToast", { detail: { message: xhr.responseText, level: "error" } }));
          }
          toast(xhr);
        });
        xhr.send(new FormData(form));
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { bind(document); });
})();
