// Parley's WhatsApp button on Dynamics 365 forms: the command script.
//
// Written by `parley dynamics solution`; rebuild the solution rather than
// editing it here. The ribbon calls Parley.WhatsApp.open with the form
// (CrmParameter PrimaryControl). It opens Parley's side pane, or reuses
// the one already open, on the page that frames Parley's chat panel for
// the record. Its enable rule, Parley.WhatsApp.isAvailable, hides the
// button where Dynamics has no side panes (on-premises, the mobile apps).
//
// Plain ES5 with no dependencies: it runs in whatever browser the agent
// has, exactly as written.
var Parley = Parley || {};

Parley.WhatsApp = (function () {
    "use strict";

    var PANE_ID = {{json .PaneID}};
    var PAGE = {{json .Page}};
    var ICON = {{json .IconSrc}};
    // Per table, the columns that may hold the customer's phone, tried in
    // order: the first non-empty one is sent.
    var PHONE_COLUMNS = {{json .PhoneColumns}};

    function trim(v) {
        return v === null || v === undefined ? "" : String(v).replace(/^\s+|\s+$/g, "");
    }

    // record reads the table, the ID and the phone of the form's record.
    // Forms give the ID as "{3F2C9A4E-...}"; Parley keys records by the
    // bare lower-case GUID, as the Web API writes it.
    function record(form) {
        var entity = form.data.entity;
        var table = entity.getEntityName();
        var id = trim(entity.getId()).replace(/[{}]/g, "").toLowerCase();
        var columns = Object.prototype.hasOwnProperty.call(PHONE_COLUMNS, table) ? PHONE_COLUMNS[table] : [];
        var phone = "";
        for (var i = 0; i < columns.length && phone === ""; i++) {
            var attribute = form.getAttribute(columns[i]);
            if (attribute) {
                phone = trim(attribute.getValue());
            }
        }
        return { table: table, id: id, phone: phone };
    }

    // pageInput is the page the pane shows: the HTML web resource, with
    // the record in the data parameter Dynamics hands to it.
    function pageInput(r) {
        var data = "table=" + encodeURIComponent(r.table) + "&id=" + encodeURIComponent(r.id);
        if (r.phone !== "") {
            data += "&phone=" + encodeURIComponent(r.phone);
        }
        return { pageType: "webresource", webresourceName: PAGE, data: data };
    }

    function isAvailable() {
        return typeof Xrm !== "undefined" && !!Xrm.App && !!Xrm.App.sidePanes;
    }

    function open(primaryControl) {
        var r = record(primaryControl);
        if (r.id === "") {
            return; // a new record, not saved yet: there is nothing to chat about
        }
        var input = pageInput(r);
        var panes = Xrm.App.sidePanes;
        var pane = typeof panes.getPane === "function" ? panes.getPane(PANE_ID) : undefined;
        if (pane) {
            if (typeof pane.select === "function") {
                pane.select();
            }
            return pane.navigate(input);
        }
        return panes.createPane({
            title: "WhatsApp",
            paneId: PANE_ID,
            canClose: true,
            width: 400,
            imageSrc: ICON
        }).then(function (created) {
            return created.navigate(input);
        });
    }

    return { open: open, isAvailable: isAvailable };
}());
