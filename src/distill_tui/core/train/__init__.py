"""Training a student: the backend protocol and the provider jobs backend, the plan and the checks
before an upload, following jobs, and why a job could not be made. Uses `curate` and below."""
