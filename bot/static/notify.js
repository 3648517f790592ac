// Every inbox page, live: the agent's unread counts in the title and the navigation's badges,
// and (when the agent opted in on their account page) a browser notification and a beep for a
// chat assigned to them or a colleague's mention. One poll of GET /inbox/events every few
// seconds, hidden tab or not: notifications matter most when the inbox is not in front.
(function () {
  "use strict";

  var body = document.body;
  var url = body.getAttribute("data-news-url");
  if (!url) {
    return;
  }
  var POLL_MS = 4000;
  var wantDesktop = body.getAttribute("data-notify-desktop") === "1";
  var wantSound = body.getAttribute("data-notify-sound") === "1";
  // What this agent was already told of, shared by their tabs: a page load never repeats it.
  var storeKey = "parley-notified-" + body.getAttribute("data-agent");
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  var canNotify = "Notification" in window;
  var audio = null;

  function told() {
    try {
      var raw = window.localStorage.getItem(storeKey);
      return raw === null ? null : JSON.parse(raw);
    } catch (error) {
      return null;
    }
  }

  function remember(keys) {
    try {
      window.localStorage.setItem(storeKey, JSON.stringify(keys));
    } catch (error) {
      // A browser without storage notifies again after a reload: better than never.
    }
  }

  function showCount(id, count) {
    var badge = document.getElementById(id);
    if (badge) {
      badge.textContent = String(count);
      badge.hidden = count === 0;
    }
  }

  // A short beep made here (WebAudio), so there is no sound file to fetch or ship.
  function audioContext() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) {
      audio = new Context();
    }
    return audio;
  }

  function beep() {
    var context = audioContext();
    if (!context) {
      return;
    }
    if (context.state === "suspended") {
      context.resume().catch(function () {});
    }
    var tone = context.createOscillator();
    var volume = context.createGain();
    tone.type = "sine";
    tone.frequency.value = 880;
    volume.gain.setValueAtTime(0.0001, context.currentTime);
    volume.gain.exponentialRampToValueAtTime(0.2, context.currentTime + 0.02);
    volume.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + 0.25);
    tone.connect(volume).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.3);
  }

  function notify(item) {
    if (!wantDesktop || !canNotify || Notification.permission !== "granted") {
      return;
    }
    // The tag makes two tabs that both see the item show one notification.
    var shown = new Notification(item.title, { body: item.body, tag: item.key });
    shown.onclick = function () {
      window.focus();
      window.location.assign(item.url);
      shown.close();
    };
  }

  function show(data) {
    var total = data.counts.total;
    document.title = (total ? "(" + total + ") " : "") + baseTitle;
    showCount("badge-queue", data.counts.queue);
    showCount("badge-mentions", data.counts.mentions);
    var keys = data.notices.map(function (item) {
      return item.key;
    });
    var before = told();
    remember(keys); // only what is still unread: the list cannot grow without end
    if (before === null) {
      return; // this browser's first inbox page: what is unread is counted, not announced
    }
    var fresh = data.notices.filter(function (item) {
      return before.indexOf(item.key) === -1;
    });
    fresh.forEach(notify);
    if (fresh.length && wantSound) {
      beep();
    }
  }

  var polling = false;
  var stopped = false;

  function poll() {
    if (polling || stopped) {
      return;
    }
    polling = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          stopped = true; // logged out: the page says so on its next load
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data) {
          show(data);
        }
      })
      .catch(function () {})
      .then(function () {
        polling = false;
      });
  }

  // Permission is asked only on a click: the "Allow notifications" button, or saving the
  // account page's form with notifications ticked.
  function askPermission() {
    return canNotify && Notification.permission === "default"
      ? Notification.requestPermission()
      : Promise.resolve(canNotify ? Notification.permission : "denied");
  }

  var allow = document.getElementById("allow-notifications");
  if (allow && wantDesktop && canNotify && Notification.permission === "default") {
    allow.hidden = false;
    allow.addEventListener("click", function () {
      askPermission().then(function () {
        allow.hidden = Notification.permission === "default";
      });
    });
  }

  var form = document.getElementById("notify-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      var desktop = form.querySelector("input[name=desktop]");
      if (form.querySelector("input[name=sound]").checked) {
        audioContext(); // made in a click: the browser lets this page play its beep later
      }
      if (desktop && desktop.checked && canNotify && Notification.permission === "default") {
        event.preventDefault();
        askPermission().then(function () {
          form.submit();
        });
      }
    });
  }

  // A click anywhere lets a later beep play (browsers start audio only after a gesture).
  if (wantSound) {
    document.addEventListener("pointerdown", function () {
      var context = audioContext();
      if (context && context.state === "suspended") {
        context.resume().catch(function () {});
      }
    });
  }

  poll();
  setInterval(poll, POLL_MS);
})();
