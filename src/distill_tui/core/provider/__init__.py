"""The provider side of every call: an OpenAI, Azure OpenAI or compatible client for a spec, one line
for each way a call can fail, and provider values read as data. Uses `task` and `common`.

Starting the embedded offline provider is not done here: the commands do it, at the edge."""
