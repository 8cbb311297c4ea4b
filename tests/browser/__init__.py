"""What a person sees: a real JupyterLab in a real Chromium (Debian's), driven by Playwright."""
