// Meeting documents (tài liệu họp): placeholder while the panel is being written.
export function onDocumentMessage() {}
