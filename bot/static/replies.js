// Saved replies in the reply box: type /shortcut then space, Tab or Enter, or pick one from the
// list. The server fills the text in for this person (bot/web/team.py); it is put in the box as
// plain text and the box's own input event updates the segment counter. The reply is sent by
// the normal form, so the send policy applies.
(function () {
  "use strict";

  var box = document.getElementById("saved-replies");
  var textarea = document.getElementById("reply-body");
  if (!box || !textarea) {
    return;
  }
  var picker = document.getElementById("saved-reply-picker");
  var known = {};
  Array.prototype.forEach.call(picker.options, function (option) {
    if (option.value) {
      known[option.value] = true;
    }
  });
  var TYPED = /(^|\s)\/([a-z0-9_-]+)$/i;

  function filled(shortcut) {
    var url = box.getAttribute("data-url").replace("SHORTCUT", encodeURIComponent(shortcut));
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      });
  }

  // Put `text` in place of textarea.value[start:end] and tell the counter.
  function insert(text, start, end) {
    var value = textarea.value;
    textarea.value = value.slice(0, start) + text + value.slice(end);
    var caret = start + text.length;
    textarea.setSelectionRange(caret, caret);
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  textarea.addEventListener("keydown", function (event) {
    if (event.key !== " " && event.key !== "Tab" && event.key !== "Enter") {
      return;
    }
    var caret = textarea.selectionStart;
    if (caret !== textarea.selectionEnd) {
      return;
    }
    var match = TYPED.exec(textarea.value.slice(0, caret));
    if (!match || !known[match[2].toLowerCase()]) {
      return;
    }
    event.preventDefault();
    var start = caret - match[2].length - 1;
    filled(match[2].toLowerCase()).then(function (reply) {
      if (reply) {
        insert(reply.text, start, caret);
      }
    }).catch(function () {});
  });

  picker.addEventListener("change", function () {
    var shortcut = picker.value;
    picker.value = "";
    if (!shortcut) {
      return;
    }
    var start = textarea.selectionStart;
    var end = textarea.selectionEnd;
    filled(shortcut).then(function (reply) {
      if (reply) {
        insert(reply.text, start, end);
      }
    }).catch(function () {});
  });
})();
