"""Budgets per cost center and per virtual key: reserve the worst case, settle the actual cost."""

from hybridllm.budgets.manager import Admission, BudgetManager
from hybridllm.budgets.state import BudgetState, MemoryBudgetState

__all__ = ["Admission", "BudgetManager", "BudgetState", "MemoryBudgetState"]
