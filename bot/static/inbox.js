// The conversation page, live: new texts and status changes every 2 s; the reply's cost as you
// type. Data from the server is only ever put on the page with textContent, never innerHTML.
(function () {
  "use strict";

  var POLL_MS = 2000;
  var DEBOUNCE_MS = 250;

  var list = document.getElementById("messages");
  var replyForm = document.getElementById("reply-form");

  function csrfToken() {
    var field = document.querySelector("input[name=csrf_token]");
    return field ? field.value : "";
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function messageItem(m) {
    var item = element("li", "msg msg-" + m.kind);
    item.setAttribute("data-message-id", String(m.id));
    var meta = element("div", "meta");
    meta.appendChild(element("span", "who", m.who));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(element("time", null, m.time));
    if (m.kind !== "customer") {
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(element("span", "status", m.status));
      meta.appendChild(document.createTextNode(" · "));
      meta.appendChild(element("span", "cost", m.segments + " × " + m.encoding));
    }
    item.appendChild(meta);
    item.appendChild(element("div", "body", m.body));
    (m.media_urls || []).forEach(function (url) {
      item.appendChild(element("div", "media", url));
    });
    return item;
  }

  function note(text) {
    var live = document.getElementById("live-note");
    if (live) {
      live.textContent = text;
      live.hidden = !text;
    }
  }

  // The header as the server describes it (bot/web/chat_state.py): the same fields the page was
  // rendered with, so a hand-back, a STOP or another agent's take-over shows without a reload.
  function showState(state) {
    var texts = [
      ["chat-state", state.label],
      ["chat-summary", state.summary],
      ["chat-handoff-reason", state.handoff_reason || ""],
      ["reply-hint", state.hint || ""],
    ];
    texts.forEach(function (pair) {
      var node = document.getElementById(pair[0]);
      if (node) {
        node.textContent = pair[1];
      }
    });
    var toggles = [
      ["chat-handoff", Boolean(state.handoff_reason)],
      ["take-form", state.can_take],
      ["hand-back-form", state.mine],
      ["reply-form", state.can_reply],
      ["reply-hint", Boolean(state.hint)],
    ];
    toggles.forEach(function (pair) {
      var node = document.getElementById(pair[0]);
      if (node) {
        node.hidden = !pair[1];
      }
    });
  }

  var polling = false;
  var stopped = false;

  function poll() {
    if (polling || stopped || document.hidden) {
      return;
    }
    polling = true;
    var url = list.getAttribute("data-events-url") + "?after=" +
      encodeURIComponent(list.getAttribute("data-after") || "0");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          stopped = true;
          note("Your session has ended: reload the page to log in again.");
          return null;
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (!data) {
          return;
        }
        note("");
        var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
        data.messages.forEach(function (m) {
          if (!list.querySelector('[data-message-id="' + Number(m.id) + '"]')) {
            list.appendChild(messageItem(m));
          }
          list.setAttribute("data-after", String(m.id));
        });
        Object.keys(data.statuses).forEach(function (id) {
          var node = list.querySelector('[data-message-id="' + Number(id) + '"] .status');
          if (node) {
            node.textContent = data.statuses[id];
          }
        });
        showState(data.conversation);
        if (data.messages.length && atBottom) {
          window.scrollTo(0, document.body.scrollHeight);
        }
      })
      .catch(function () {
        note("Cannot reach the server; still trying.");
      })
      .then(function () {
        polling = false;
      });
  }

  if (list) {
    setInterval(poll, POLL_MS); // a conversation page; a contact's page has only the counter
  }

  if (!replyForm) {
    return;
  }
  var textarea = replyForm.querySelector("textarea");
  var output = document.getElementById("segment-info");
  var timer = null;
  var asked = 0;

  function describe(info) {
    var left = info.left + (info.left === 1 ? " character left" : " characters left");
    if (info.units === 0) {
      return left; // an empty box costs nothing yet: say only how much fits in one text
    }
    var text = info.segments + (info.segments === 1 ? " segment" : " segments") + " · " +
      info.encoding + " · " + left;
    if (info.culprits.length) {
      text += " · UCS-2 because of: " + info.culprits.join(" ");
    }
    return text;
  }

  function countSegments() {
    var mine = ++asked;
    fetch(replyForm.getAttribute("data-segments-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify({ text: textarea.value }),
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (info) {
        if (info && mine === asked && output) {
          output.textContent = describe(info);
        }
      })
      .catch(function () {});
  }

  textarea.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(countSegments, DEBOUNCE_MS);
  });
  countSegments();
})();
