import { registry } from "@web/core/registry";
import { stepUtils } from "@web_tour/tour_utils";

const DUNNING_TAB = ".o_notebook_headers a[name='dunning']";

/**
 * Click New on a list of moves, pick the partner when the move has one, and save: the form must open and save
 * with the module installed. Only customer invoices show the Dunning tab.
 */
function newMoveSteps({ partner, invoiceDate, dunningTab }) {
    const steps = [
        {
            content: "Create a new move from the list",
            trigger: ".o_control_panel_main_buttons .o_list_button_add",
            run: "click",
        },
        {
            content: "The form opens",
            trigger: ".o_form_view .o_form_editable",
        },
    ];
    if (partner) {
        steps.push(
            {
                content: "Type the partner",
                trigger: "div.o_field_widget[name='partner_id'] input",
                run: `edit ${partner}`,
            },
            {
                content: "Pick the partner",
                trigger: `.o-autocomplete--dropdown-menu .dropdown-item:contains(${partner})`,
                run: "click",
            },
            {
                content: "The partner is set",
                trigger: `div.o_field_widget[name='partner_id'] input:value(${partner})`,
            }
        );
    }
    if (invoiceDate) {
        steps.push({
            content: "Set the document date (required on a vendor bill)",
            trigger: "input[data-field=invoice_date]",
            run: `edit ${invoiceDate}`,
        });
    }
    steps.push(...stepUtils.saveForm(), {
        content: dunningTab ? "The saved invoice has a Dunning tab" : "The saved move shows nothing of dunning",
        trigger: dunningTab ? `.o_form_saved ${DUNNING_TAB}` : `.o_form_saved:not(:has(${DUNNING_TAB}))`,
    });
    return steps;
}

// The customer invoice shows the Dunning tab; a credit note or a vendor bill (same steps) and a journal entry
// (no partner in its header) show nothing of dunning.
registry.category("web_tour.tours").add("receivable_dunning_new_customer_invoice", {
    steps: () => newMoveSteps({ partner: "Tour Customer", dunningTab: true }),
});
registry.category("web_tour.tours").add("receivable_dunning_new_move_with_partner_no_dunning", {
    steps: () => newMoveSteps({ partner: "Tour Customer", invoiceDate: "2026-01-15", dunningTab: false }),
});
registry.category("web_tour.tours").add("receivable_dunning_new_journal_entry", {
    steps: () => newMoveSteps({ dunningTab: false }),
});
