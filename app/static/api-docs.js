// Starts the vendored Swagger UI on Ronghe's own OpenAPI document (kept out of the page for the CSP).
window.addEventListener("load", function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: root.dataset.specUrl, domNode: root, deepLinking: true });
});
