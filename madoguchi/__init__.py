"""The composition root: wires core, the Slack door, the mail door and the web pages."""
