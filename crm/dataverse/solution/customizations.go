package solution

import (
	"strconv"
)

// Languages of the button's labels: English, Brazilian Portuguese and
// Spanish, Parley's three languages.
const (
	english    = 1033
	portuguese = 1046
	spanish    = 3082
)

// sequence places the button in the Save group of the form's command bar,
// after Save and Save & Close.
const sequence = 25

// systemTables are the display names Dynamics exports for its own tables
// (<Name LocalizedName="Lead" OriginalName="Lead">Lead</Name>).
var systemTables = map[string]string{"lead": "Lead", "contact": "Contact", "account": "Account"}

// customizations is customizations.xml: one Entity per table, carrying
// only the ribbon change, and the web resources.
//
// The root is the bare <ImportExportXml> of older exports
// (solution-examples/ConvertActivityDialog, Microsoft's sales-insights
// sample) with its children in CustomizationsSolution.xsd's order; modern
// exports add root attributes and elements the published schema does not
// know, and this file must validate against it.
func (c *config) customizations(res []*webResource) ([]byte, error) {
	entities := el("Entities")
	for _, t := range c.tables {
		entities.add(c.entity(t))
	}
	resources := el("WebResources")
	for _, r := range res {
		resources.add(el("WebResource",
			textEl("WebResourceId", r.id()),
			textEl("Name", r.name),
			textEl("DisplayName", r.displayName),
			textEl("Description", r.description),
			textEl("WebResourceType", strconv.Itoa(r.kind)),
			textEl("IntroducedVersion", c.version),
			textEl("IsEnabledForMobileClient", "0"),
			textEl("IsAvailableForMobileOffline", "0"),
			textEl("IsCustomizable", "1"),
			textEl("CanBeDeleted", "1"),
			textEl("IsHidden", "0"),
			textEl("FileName", r.fileName()),
		))
	}
	root := el("ImportExportXml",
		entities,
		el("Roles"),
		el("Workflows"),
		el("FieldSecurityProfiles"),
		el("Templates"),
		el("EntityMaps"),
		el("EntityRelationships"),
		el("OrganizationSettings"),
		el("optionsets"),
		resources,
		el("Languages", textEl("Language", strconv.Itoa(english))),
	).attr("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance")
	return document(root)
}

// entity is a table as a shell that only carries the ribbon change: the
// form SolutionPackager unpacks to Entities/<Table>/Entity.xml
// (YarSol/deploytest Entities/Lead/Entity.xml: Name, and an EntityInfo
// marked unmodified), with the RibbonDiffXml beside it.
func (c *config) entity(table string) *node {
	name, ok := systemTables[table]
	if !ok {
		name = table
	}
	return el("Entity",
		textEl("Name", name).attr("LocalizedName", name, "OriginalName", name),
		el("EntityInfo", el("entity", el("attributes")).attr("Name", name, "unmodified", "1")),
		c.ribbon(table),
	)
}

// ribbon adds the WhatsApp button to the table's main form.
//
// Its layout is that of real main-form buttons calling JavaScript with
// the form: YarSol/deploytest Entities/Lead/RibbonDiff.xml
// (Mscrm.Form.lead.MainTab.Actions, safe.lead.MakePrimary) and
// lstevensTRA/TRACRMFrontend Entities/Opportunity/RibbonDiff.xml
// (Mscrm.Form.opportunity.MainTab.Save, FormStateRule). The button sits in
// the Save group, which every table's form has, custom tables included.
// On the Unified Interface the classic ribbon becomes the command bar, and
// ModernImage is the icon it shows (as Microsoft's own msdyn_ buttons do,
// with a $webresource: SVG).
func (c *config) ribbon(table string) *node {
	id := Prefix + "." + table + ".WhatsApp"
	button, command := id+".Button", id+".Command"
	hasRecord, hasPanes := id+".HasRecord.EnableRule", id+".HasSidePanes.EnableRule"
	label := func(what string) string { return "$LocLabels:" + button + "." + what }
	icon := "$webresource:" + Icon
	seq := strconv.Itoa(sequence)

	return el("RibbonDiffXml",
		el("CustomActions",
			el("CustomAction",
				el("CommandUIDefinition",
					el("Button").attr(
						"Id", button,
						"Command", command,
						"Sequence", seq,
						"TemplateAlias", "o1",
						"LabelText", label("LabelText"),
						"Alt", label("Alt"),
						"ToolTipTitle", label("ToolTipTitle"),
						"ToolTipDescription", label("ToolTipDescription"),
						"Image16by16", icon,
						"Image32by32", icon,
						"ModernImage", icon,
					),
				),
			).attr("Id", button+".CustomAction", "Location", "Mscrm.Form."+table+".MainTab.Save.Controls._children", "Sequence", seq),
		),
		el("Templates", el("RibbonTemplates").attr("Id", "Mscrm.Templates")),
		el("CommandDefinitions",
			el("CommandDefinition",
				el("EnableRules",
					el("EnableRule").attr("Id", hasRecord),
					el("EnableRule").attr("Id", hasPanes),
				),
				el("DisplayRules"),
				el("Actions",
					el("JavaScriptFunction",
						el("CrmParameter").attr("Value", "PrimaryControl"),
					).attr("FunctionName", Handler, "Library", "$webresource:"+CommandScript),
				),
			).attr("Id", command),
		),
		el("RuleDefinitions",
			el("TabDisplayRules"),
			el("DisplayRules"),
			el("EnableRules",
				// A saved record, read-only ones included (a qualified lead
				// is read-only, and its customer still writes).
				el("EnableRule",
					el("FormStateRule").attr("State", "Create", "InvertResult", "true"),
					el("FormStateRule").attr("State", "BulkEdit", "InvertResult", "true"),
				).attr("Id", hasRecord),
				el("EnableRule",
					el("CustomRule").attr("FunctionName", IsAvailable, "Library", "$webresource:"+CommandScript, "Default", "false"),
				).attr("Id", hasPanes),
			),
		),
		el("LocLabels",
			locLabel(button+".LabelText", "WhatsApp", "WhatsApp", "WhatsApp"),
			locLabel(button+".Alt", "WhatsApp", "WhatsApp", "WhatsApp"),
			locLabel(button+".ToolTipTitle", "WhatsApp", "WhatsApp", "WhatsApp"),
			locLabel(button+".ToolTipDescription",
				"Chat with this customer on WhatsApp, in Parley.",
				"Converse com este cliente pelo WhatsApp, no Parley.",
				"Chatea con este cliente por WhatsApp, en Parley."),
		),
	)
}

func locLabel(id, en, pt, es string) *node {
	title := func(text string, lang int) *node {
		return el("Title").attr("description", text, "languagecode", strconv.Itoa(lang))
	}
	return el("LocLabel",
		el("Titles", title(en, english), title(pt, portuguese), title(es, spanish)),
	).attr("Id", id)
}
