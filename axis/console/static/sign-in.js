// A sign-in link carries the token in its fragment (/ui/sign-in#token=...), which browsers
// never send to the server: move it into the form and out of the address bar and history.
(function () {
  var match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (!match) return;
  document.getElementById("token").value = decodeURIComponent(match[1]);
  history.replaceState(null, "", window.location.pathname + window.location.search);
  document.querySelector("#sign-in button").focus();
})();
