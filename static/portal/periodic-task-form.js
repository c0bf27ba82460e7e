// The periodic task form of the admin: shows the chosen crontab in words under the field.
(function () {
  "use strict";
  const $ = django.jQuery;
  const readableCrontabs = JSON.parse($("#readable-crontabs").text());
  const help = $(".field-crontab .help");
  const originalCrontabHelp = help.text();
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    const translation = readableCrontabs[$("#id_crontab").val()];
    help.text(originalCrontabHelp).append($("<br>"), document.createTextNode("Translation: " + translation));
  });
})();
