// Imported before Prism: Prism reads `Prism.manual` when it starts and otherwise highlights every
// `language-*` element of the page on load; the page highlights what it draws itself.
(globalThis as { Prism?: { manual: boolean } }).Prism = { manual: true };
