"""Services: deploy, onboarding, loans, policy, indexing and reports. The CLI and the Brownie
scripts are thin faces over these."""
