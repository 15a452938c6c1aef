import { Component } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/**
 * The validation preview of an import: the first rows of the file as mapped, each error written on its cell, and
 * what happens to each row's debtor (new, existing, existing with changed data).
 */
export class RequestImportPreviewField extends Component {
    static template = "receivable_dunning.RequestImportPreviewField";
    static props = { ...standardFieldProps };

    get preview() {
        return this.props.record.data[this.props.name];
    }
}

registry.category("fields").add("dunning_request_import_preview", {
    component: RequestImportPreviewField,
    supportedTypes: ["json"],
});
