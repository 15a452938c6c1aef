import { Component, onWillUnmount, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

// The notification the server sends to the import's creator after each committed batch.
const PROGRESS_NOTIFICATION = "dunning_request_import_progress";

/**
 * The creation of an import's requests: rows done, failed and left and the percentage, updated while the user
 * watches from the bus notifications of each batch; the form is reloaded when the import changes state.
 */
export class RequestImportProgressField extends Component {
    static template = "receivable_dunning.RequestImportProgressField";
    static props = { ...standardFieldProps };

    setup() {
        this.busService = useService("bus_service");
        this.live = useState({ values: null });
        const onProgress = (values) => this.onProgress(values);
        this.busService.subscribe(PROGRESS_NOTIFICATION, onProgress);
        onWillUnmount(() => this.busService.unsubscribe(PROGRESS_NOTIFICATION, onProgress));
    }

    get values() {
        if (this.live.values) {
            return this.live.values;
        }
        const data = this.props.record.data;
        return {
            state: data.state,
            done: data.done_count,
            failed: data.failed_count,
            left: Math.max(data.valid_count - data.done_count - data.failed_count, 0),
            progress: data[this.props.name],
        };
    }

    get percent() {
        return Math.floor(this.values.progress);
    }

    async onProgress(values) {
        const record = this.props.record;
        if (values.id !== record.resId) {
            return;
        }
        this.live.values = values;
        if (values.state !== record.data.state && !record.dirty) {
            await record.load();
            this.live.values = null;
        }
    }
}

registry.category("fields").add("dunning_request_import_progress", {
    component: RequestImportProgressField,
    supportedTypes: ["float"],
    fieldDependencies: [
        { name: "state", type: "selection" },
        { name: "done_count", type: "integer" },
        { name: "failed_count", type: "integer" },
        { name: "valid_count", type: "integer" },
    ],
});
