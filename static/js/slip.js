// The slip page: the print button.
(function () {
  'use strict';
  var button = document.getElementById('slip-print');
  if (button) { button.addEventListener('click', function () { window.print(); }); }
})();
