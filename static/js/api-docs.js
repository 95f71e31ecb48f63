// The API documentation page: Swagger UI over /api/v1/schema/ (vendored files; no inline script, for the CSP).
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    // The document needs the signed-in session; "Try it out" sends the token given under "Authorize".
    requestInterceptor: function (request) { request.credentials = "same-origin"; return request; },
  });
});
