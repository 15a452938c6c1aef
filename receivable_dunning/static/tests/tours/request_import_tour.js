import { rpc } from "@web/core/network/rpc";
import { registry } from "@web/core/registry";

const SAMPLE_URL = "/receivable_dunning/static/samples/payment_requests.csv";
const PREVIEW = ".o_field_widget[name=preview] .o_dunning_import_preview";
const PROGRESS = ".o_field_widget[name=progress] .o_dunning_import_progress";

/** Put the sample file into the form's file input, as a user choosing it in the file dialog. */
async function uploadSample(input) {
    const blob = await (await fetch(SAMPLE_URL)).blob();
    const dataTransfer = new DataTransfer();
    dataTransfer.items.add(new File([blob], "payment_requests.csv", { type: "text/csv" }));
    input.files = dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
}

/**
 * What the scheduler does when the import is queued: run the import's scheduled action now (no cron thread runs
 * in a test server). Its batches notify the form over the bus while the user watches.
 */
async function runImportCron() {
    const [cron] = await rpc("/web/dataset/call_kw/ir.model.data/search_read", {
        model: "ir.model.data",
        method: "search_read",
        args: [
            [
                ["module", "=", "receivable_dunning"],
                ["name", "=", "ir_cron_dunning_request_import"],
            ],
            ["res_id"],
        ],
        kwargs: {},
    });
    await rpc("/web/dataset/call_kw/ir.cron/method_direct_trigger", {
        model: "ir.cron",
        method: "method_direct_trigger",
        args: [[cron.res_id]],
        kwargs: {},
    });
}

// Upload the sample file, keep the proposed mapping, validate, see the errors on their cells, fix nothing,
// import the valid rows and watch the progress reach 100 %.
registry.category("web_tour.tours").add("receivable_dunning_request_import", {
    steps: () => [
        {
            content: "Create an import",
            trigger: ".o_control_panel_main_buttons .o_list_button_add",
            run: "click",
        },
        {
            content: "Choose the sample file",
            trigger: ".o_field_widget[name=file] input[type=file]:not(:visible)",
            run: ({ anchor }) => uploadSample(anchor),
        },
        {
            content: "The amount column is mapped to the amount",
            trigger:
                ".o_field_widget[name=column_ids] .o_data_row:has(td[name=header]:contains(Amount)) td[name=field_name]:contains(Amount)",
        },
        {
            content: "The debtor column is mapped to the debtor's name",
            trigger:
                ".o_field_widget[name=column_ids] .o_data_row:has(td[name=header]:contains(Debtor)) td[name=field_name]:contains(Debtor name)",
        },
        {
            content: "Validate the rows",
            trigger: ".o_form_view button[name=action_validate]",
            run: "click",
        },
        {
            content: "Open the preview",
            trigger: ".o_notebook_headers a[name=preview]",
            run: "click",
        },
        {
            content: "The bad email is shown on its cell",
            trigger: `${PREVIEW} tr[data-row='5'] td.o_dunning_import_cell_error[data-field=email]`,
        },
        {
            content: "The bad IBAN is shown on its cell",
            trigger: `${PREVIEW} tr[data-row='9'] td.o_dunning_import_cell_error[data-field=iban]`,
        },
        {
            content: "The repeated external reference is shown on its cell",
            trigger: `${PREVIEW} tr[data-row='13'] td.o_dunning_import_cell_error[data-field=external_ref]`,
        },
        {
            content: "The missing amount is shown on its cell",
            trigger: `${PREVIEW} tr[data-row='16'] td.o_dunning_import_cell_error[data-field=amount]`,
        },
        {
            content: "A valid row has no error",
            trigger: `${PREVIEW} tr[data-row='1']:not(:has(.o_dunning_import_cell_error))`,
        },
        {
            content: "Import the valid rows, fixing nothing",
            trigger: ".o_form_view button[name=action_import]",
            run: "click",
        },
        {
            content: "The progress bar waits at 0 %",
            trigger: `${PROGRESS}[data-state=queued][data-progress='0']`,
            // Not awaited: the scheduled action runs in its own request while the form shows its batches.
            run: () => {
                runImportCron();
            },
        },
        {
            content: "The progress reaches 100 %",
            timeout: 60000,
            trigger: `${PROGRESS}[data-progress='100']:contains(16 done):contains(0 left)`,
        },
        {
            content: "The import is over",
            trigger: `.o_statusbar_status button.o_arrow_button_current:contains(Done)`,
        },
        {
            content: "The user is told",
            trigger: ".o_notification:contains(Payment requests imported)",
        },
    ],
});
