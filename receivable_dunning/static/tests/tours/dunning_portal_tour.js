import { registry } from "@web/core/registry";

/**
 * A step that fails when anything must scroll sideways on a phone: the page itself, or a table inside its
 * scrolling container (which would hide the amounts at the right).
 */
function fitsTheScreen(content, trigger) {
    return {
        content,
        trigger,
        run() {
            const overflow = document.documentElement.scrollWidth - window.innerWidth;
            if (overflow > 1) {
                throw new Error(`The page is ${overflow}px wider than the ${window.innerWidth}px screen`);
            }
            for (const box of document.querySelectorAll(".table-responsive")) {
                const hidden = box.scrollWidth - box.clientWidth;
                if (hidden > 1) {
                    throw new Error(`A table is ${hidden}px wider than its ${box.clientWidth}px box`);
                }
            }
        },
    };
}

registry.category("web_tour.tours").add("receivable_dunning_portal_pay", {
    steps: () => [
        fitsTheScreen("The statement fits a phone screen", ".o_dunning_statement .o_dunning_invoices"),
        {
            content: "Select the first invoice",
            trigger: ".o_dunning_invoices tbody tr:nth-child(1) input[name='invoice_ids']",
            run: "click",
        },
        {
            content: "Select the second invoice",
            trigger: ".o_dunning_invoices tbody tr:nth-child(2) input[name='invoice_ids']",
            run: "click",
        },
        {
            content: "Pay the selection",
            trigger: "button[name='o_dunning_pay']",
            run: "click",
            expectUnloadPage: true,
        },
        fitsTheScreen("The payment page fits a phone screen", ".o_dunning_pay #o_payment_form"),
        {
            content: "Enter the demo card number",
            trigger: "input[name='customer_input']",
            run: "edit 4242424242424242",
        },
        {
            content: "Pay",
            trigger: "button[name='o_payment_submit_button']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The thank-you page confirms the payment",
            trigger: ".o_dunning_thanks .o_dunning_tx_done",
        },
        fitsTheScreen("The thank-you page fits a phone screen", ".o_dunning_thanks"),
    ],
});
