import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("receivable_dunning_plan_autopay", {
    steps: () => [
        {
            content: "Ask to pay in instalments, nothing selected: every invoice a plan may take",
            trigger: ".o_dunning_actions button[name='o_dunning_plan']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The plan form fits a phone screen",
            trigger: ".o_dunning_plan_proposal input[name='invoice_ids']:checked",
            run() {
                const overflow = document.documentElement.scrollWidth - window.innerWidth;
                if (overflow > 1) {
                    throw new Error(`The page is ${overflow}px wider than the ${window.innerWidth}px screen`);
                }
            },
        },
        {
            content: "Propose the plan",
            trigger: "button[name='o_dunning_plan_submit']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "Open the approved plan",
            trigger: "a.o_dunning_plan_open",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The plan page fits a phone screen",
            trigger: ".o_dunning_plan_page .o_dunning_plan_consent",
            run() {
                const overflow = document.documentElement.scrollWidth - window.innerWidth;
                if (overflow > 1) {
                    throw new Error(`The page is ${overflow}px wider than the ${window.innerWidth}px screen`);
                }
            },
        },
        {
            content: "Agree to the automatic charges",
            trigger: "input#dunning_plan_consent",
            run: "click",
        },
        {
            content: "Confirm the consent",
            trigger: "button[name='o_dunning_plan_consent_submit']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The method is saved for the next instalments",
            trigger: ".o_dunning_plan_saving",
        },
        {
            content: "Enter the demo card number",
            trigger: "input[name='customer_input']",
            run: "edit 4242424242424242",
        },
        {
            content: "Pay the first instalment",
            trigger: "button[name='o_payment_submit_button']",
            run: "click",
            expectUnloadPage: true,
        },
        {
            content: "The first instalment is paid, the next ones are charged on their dates",
            trigger: ".o_dunning_plan_paid ~ .o_dunning_plan_instalments li[data-state='paid']",
        },
        {
            content: "The plan names the saved method",
            trigger: ".o_dunning_plan_autopay",
        },
    ],
});
