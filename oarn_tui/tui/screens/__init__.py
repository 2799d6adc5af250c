"""Dashboard screens: main, task detail, onboarding, wallet, models, settings."""
