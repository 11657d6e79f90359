// evalyard's only script. It enhances plain GET forms and never holds page state: every
// control works without it (the "Apply" buttons), and the URL stays the page's state.
"use strict";

document.documentElement.classList.add("js");

function cleanSubmit(form) {
  // Leave empty fields out of the URL (compare=&step= ...), so shared links stay short.
  for (const field of form.elements) {
    if (field.name && field.value === "" && !field.disabled) {
      field.disabled = true;
      field.dataset.reenable = "1";
    }
  }
}

function restore() {
  // Coming back with the back button, the browser may show the page as it was left, or
  // refill the controls with what was picked last: show what the URL says instead.
  for (const field of document.querySelectorAll("[data-reenable]")) {
    field.disabled = false;
    delete field.dataset.reenable;
  }
  for (const select of document.querySelectorAll("select")) {
    for (const option of select.options) option.selected = option.defaultSelected;
  }
  for (const box of document.querySelectorAll("input[type='checkbox']")) {
    box.checked = box.defaultChecked;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[method='get']")) {
    form.addEventListener("submit", () => cleanSubmit(form));
  }
  for (const control of document.querySelectorAll("[data-autosubmit]")) {
    control.addEventListener("change", () => {
      const form = control.form;
      if (!form) return;
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit();
      } else {
        cleanSubmit(form);
        form.submit();
      }
    });
  }
});

window.addEventListener("pageshow", restore);
