// The operator dashboard's own script (no framework besides htmx): logs in through the API,
// keeps the bearer token in this tab's sessionStorage, sends it on every htmx request, and
// shows the dashboard only to administrators. Every fragment is rendered (and escaped) by the
// server; this file never builds HTML from data.
(function () {
  "use strict";
  var KEY = "swiftbox-admin-token";
  var loginSection = document.getElementById("login");
  var form = document.getElementById("login-form");
  var loginError = document.getElementById("login-error");
  var main = document.getElementById("dashboard");
  var logoutButton = document.getElementById("logout");
  var who = document.getElementById("who");

  function token() {
    return sessionStorage.getItem(KEY);
  }

  function showLogin(message) {
    sessionStorage.removeItem(KEY);
    // Stop every poll: the fragments go with the dashboard.
    main.replaceChildren();
    main.hidden = true;
    logoutButton.hidden = true;
    who.textContent = "";
    loginSection.hidden = false;
    loginError.textContent = message || "";
  }

  function showDashboard(username) {
    loginSection.hidden = true;
    loginError.textContent = "";
    who.textContent = "signed in as " + username;
    logoutButton.hidden = false;
    var template = document.getElementById("dashboard-template");
    main.replaceChildren(template.content.cloneNode(true));
    main.hidden = false;
    htmx.process(main);
  }

  // The token on every htmx request (all of them go to this service: selfRequestsOnly).
  document.body.addEventListener("htmx:configRequest", function (event) {
    var t = token();
    if (t) {
      event.detail.headers["Authorization"] = "Bearer " + t;
    }
  });

  // A token that expired or was revoked: back to the log-in form.
  document.body.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 401 || status === 403) {
      showLogin("Your session ended; log in again.");
    }
  });

  async function me(t) {
    var res = await fetch("/api/auth/me/", { headers: { Authorization: "Bearer " + t } });
    return res.ok ? res.json() : null;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    loginError.textContent = "";
    var body = JSON.stringify({
      username: form.elements.username.value,
      password: form.elements.password.value,
    });
    try {
      var res = await fetch("/api/auth/login/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: body,
      });
      var answer = await res.json();
      if (!res.ok) {
        showLogin((answer.error && answer.error.message) || "log-in failed");
        return;
      }
      form.elements.password.value = "";
      if (!answer.user || !answer.user.is_admin) {
        await fetch("/api/auth/logout/", {
          method: "POST",
          headers: { Authorization: "Bearer " + answer.token },
        });
        showLogin("This dashboard is for administrators only.");
        return;
      }
      sessionStorage.setItem(KEY, answer.token);
      showDashboard(answer.user.username);
    } catch (e) {
      showLogin("The service did not answer: " + e.message);
    }
  });

  logoutButton.addEventListener("click", async function () {
    var t = token();
    if (t) {
      await fetch("/api/auth/logout/", { method: "POST", headers: { Authorization: "Bearer " + t } });
    }
    showLogin("Logged out.");
  });

  // A reload keeps the tab's session while the token is valid.
  (async function resume() {
    var t = token();
    if (!t) {
      return;
    }
    var user = await me(t);
    if (user && user.is_admin) {
      showDashboard(user.username);
    } else {
      showLogin();
    }
  })();
})();
