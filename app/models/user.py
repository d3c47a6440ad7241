"""Users and their roles."""

from datetime import datetime
from enum import StrEnum

from pydantic import EmailStr
from sqlmodel import Field, SQLModel

from app.models.base import utc_field

NAME_MAX = 100
EMAIL_MAX = 254
PASSWORD_MIN_LENGTH = 10


class Role(StrEnum):
    admin = "admin"  # 体系管理员 / 管理者代表
    executive = "executive"  # 最高管理者
    auditor = "auditor"  # 内审员
    owner = "owner"  # 责任人
    viewer = "viewer"  # 只读


class Locale(StrEnum):
    zh_CN = "zh_CN"
    en = "en"


class UserBase(SQLModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    email: EmailStr = Field(max_length=EMAIL_MAX)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    locale: Locale = Field(default=Locale.zh_CN, max_length=8)
    is_active: bool = True


class User(UserBase, table=True):
    # "user" is reserved in PostgreSQL.
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=EMAIL_MAX, unique=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = utc_field()
    password_changed_at: datetime = utc_field()


class UserRole(SQLModel, table=True):
    __tablename__ = "user_role"
    user_id: int = Field(foreign_key="user_account.id", primary_key=True, ondelete="CASCADE")
    role: Role = Field(primary_key=True, max_length=16)


class UserCreate(UserBase):
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=128)
    roles: list[Role] = Field(default_factory=list)


class UserUpdate(UserBase):
    roles: list[Role] = Field(default_factory=list)


class UserPublic(SQLModel):
    id: int
    name: str
    email: str
    department_id: int | None
    locale: Locale
    is_active: bool
    roles: list[Role]
