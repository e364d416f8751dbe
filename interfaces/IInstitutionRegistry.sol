// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @title IInstitutionRegistry
 * @notice Who may write to the xborder ledger: institutions onboarded by the regulator, each with a
 * kind, a unique identifier (LEI or unified social credit code), a jurisdiction, a capital base and
 * a set of authorised wallets. A wallet belongs to at most one institution. A suspended or revoked
 * institution's wallets can write nothing anywhere in xborder.
 *
 * Scales: `capitalBase` is in CNY minor units (1/100 yuan).
 * Identifiers: an LEI is 20 ASCII characters [0-9A-Z] whose ISO 7064 MOD 97-10 check passes
 * (ISO 17442); a unified social credit code (USCC, GB 32100-2015) is 18 ASCII characters from
 * "0123456789ABCDEFGHJKLMNPQRTUWXY", stored left-aligned in the bytes20 with two trailing zero bytes.
 * Jurisdiction: ISO 3166-1 alpha-2, two uppercase ASCII letters.
 */
interface IInstitutionRegistry {
    /// @notice Kind of institution; decides the leverage ratio and which loan roles it may take.
    enum InstitutionKind {
        DomesticBank, // 0: Chinese-funded bank (leverage 0.8)
        ForeignBankBranch, // 1: branch of a foreign bank in China (leverage 0.8)
        NonBankFinancialInstitution, // 2: leverage 1
        Enterprise, // 3: non-financial enterprise (leverage 2)
        ForeignCreditor, // 4: overseas lender; can be creditor, never borrower
        Observer // 5: regulator / observer node; can neither borrow nor lend
    }

    /// @notice Lifecycle of an institution. `None` means "not registered".
    enum InstitutionStatus {
        None, // 0
        Active, // 1
        Suspended, // 2: wallets can write nothing; reinstatable
        Revoked // 3: terminal
    }

    /// @notice Full record of an institution as returned by {getInstitution}.
    struct Institution {
        uint32 id;
        InstitutionKind kind;
        InstitutionStatus status;
        uint64 capitalBase; // CNY minor units
        address admin; // wallet that manages the institution's other wallets
        bytes20 identifier; // LEI (20 chars) or USCC (18 chars + 2 zero bytes)
        bytes2 jurisdiction; // ISO 3166-1 alpha-2
        uint32 walletCount;
    }

    /// @notice The part of an institution the ledger needs on every write (one storage slot).
    struct InstitutionCore {
        InstitutionKind kind;
        InstitutionStatus status;
        uint64 capitalBase;
        address admin;
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted when the regulator onboards an institution (followed by {WalletAdded} for `admin`).
    event InstitutionRegistered(
        uint32 indexed institutionId,
        address indexed admin,
        InstitutionKind kind,
        bytes20 identifier,
        bytes2 jurisdiction,
        uint64 capitalBase,
        string name
    );

    /// @notice Emitted when an institution's status changes (suspend, reinstate, revoke).
    event InstitutionStatusChanged(
        uint32 indexed institutionId, InstitutionStatus oldStatus, InstitutionStatus newStatus, address indexed by
    );

    /// @notice Emitted when the regulator updates an institution's capital base (CNY minor units).
    event CapitalBaseUpdated(uint32 indexed institutionId, uint64 oldCapitalBase, uint64 newCapitalBase);

    /// @notice Emitted when a wallet is authorised to act for an institution.
    event WalletAdded(uint32 indexed institutionId, address indexed wallet, address indexed by);

    /// @notice Emitted when a wallet stops being authorised for an institution.
    event WalletRemoved(uint32 indexed institutionId, address indexed wallet, address indexed by);

    /// @notice Emitted when an institution's admin wallet changes (key rotation).
    event AdminWalletChanged(uint32 indexed institutionId, address indexed oldAdmin, address indexed newAdmin);

    /**
     * @notice Emitted when `publicKey` (X25519, 32 bytes) becomes encryption key `version` of
     * `institutionId` (0 = the regulator). Versions count 1, 2, ...; older ones stay readable.
     */
    event EncryptionKeyRegistered(uint32 indexed institutionId, uint32 indexed version, bytes32 publicKey, address by);

    // ------------------------------------------------------------------ errors

    /// @notice `institutionId` is not registered.
    error UnknownInstitution(uint32 institutionId);
    /// @notice The institution is not Active (its wallets can write nothing).
    error InstitutionNotActive(uint32 institutionId, InstitutionStatus status);
    /// @notice `identifier` is neither a valid LEI nor a valid USCC.
    error InvalidIdentifier(bytes20 identifier);
    /// @notice `jurisdiction` is not two uppercase ASCII letters.
    error InvalidJurisdiction(bytes2 jurisdiction);
    /// @notice `identifier` already belongs to `institutionId`.
    error IdentifierTaken(bytes20 identifier, uint32 institutionId);
    /// @notice `wallet` already belongs to `institutionId`.
    error WalletAlreadyRegistered(address wallet, uint32 institutionId);
    /// @notice `wallet` is not a wallet of `institutionId`.
    error WalletNotRegistered(address wallet, uint32 institutionId);
    /// @notice The admin wallet cannot be removed; change the admin first.
    error CannotRemoveAdminWallet(uint32 institutionId, address wallet);
    /// @notice Zero address given for a wallet.
    error ZeroAddress();
    /// @notice `wallet` (belonging to `walletInstitution`, 0 if none) may not perform this action.
    error UnauthorizedWallet(address wallet, uint32 walletInstitution);
    /// @notice Status transition `from` -> `to` is not allowed for `institutionId`.
    error InvalidStatusTransition(uint32 institutionId, InstitutionStatus from, InstitutionStatus to);
    /// @notice An encryption public key must be non-zero.
    error InvalidEncryptionKey(bytes32 publicKey);
    /// @notice `institutionId` (0 = the regulator) has no encryption key `version` (it has `latest`).
    error UnknownEncryptionKey(uint32 institutionId, uint32 version, uint32 latest);

    // ------------------------------------------------------------------ regulator functions

    /**
     * @notice Onboard an institution; `admin` becomes its admin wallet and first authorised wallet.
     * @return institutionId Sequential id, starting at 1.
     *
     * Requirements:
     * - caller has REGULATOR_ROLE;
     * - `identifier` is a valid LEI or USCC and not yet registered;
     * - `jurisdiction` is two uppercase letters;
     * - `admin` is non-zero and belongs to no institution.
     *
     * May emit {InstitutionRegistered}, {WalletAdded}.
     */
    function registerInstitution(
        InstitutionKind kind,
        bytes20 identifier,
        bytes2 jurisdiction,
        uint64 capitalBase,
        string calldata name,
        address admin
    ) external returns (uint32 institutionId);

    /**
     * @notice Suspend an Active institution: its wallets can write nothing until reinstated.
     *
     * Requirements: caller has REGULATOR_ROLE; institution is Active.
     *
     * May emit {InstitutionStatusChanged}.
     */
    function suspendInstitution(uint32 institutionId) external;

    /**
     * @notice Reinstate a Suspended institution.
     *
     * Requirements: caller has REGULATOR_ROLE; institution is Suspended.
     *
     * May emit {InstitutionStatusChanged}.
     */
    function reinstateInstitution(uint32 institutionId) external;

    /**
     * @notice Revoke an Active or Suspended institution (terminal). Its loans stay on the ledger.
     *
     * Requirements: caller has REGULATOR_ROLE; institution is Active or Suspended.
     *
     * May emit {InstitutionStatusChanged}.
     */
    function revokeInstitution(uint32 institutionId) external;

    /**
     * @notice Set an institution's capital base (CNY minor units); its borrowing limit follows at once.
     *
     * Requirements: caller has REGULATOR_ROLE; institution registered.
     *
     * May emit {CapitalBaseUpdated}.
     */
    function setCapitalBase(uint32 institutionId, uint64 capitalBase) external;

    // ------------------------------------------------------------------ institution functions

    /**
     * @notice Authorise `wallet` to act for `institutionId`.
     *
     * Requirements:
     * - caller is the regulator (REGULATOR_ROLE), or the institution's admin wallet while the
     *   institution is Active and the registry is not paused;
     * - institution registered and not Revoked; `wallet` non-zero and belongs to no institution.
     *
     * May emit {WalletAdded}.
     */
    function addWallet(uint32 institutionId, address wallet) external;

    /**
     * @notice Remove `wallet` from `institutionId` (it may later join any institution).
     *
     * Requirements: as {addWallet}; `wallet` belongs to the institution and is not its admin wallet.
     *
     * May emit {WalletRemoved}.
     */
    function removeWallet(uint32 institutionId, address wallet) external;

    /**
     * @notice Make `newAdmin` the institution's admin wallet (key rotation). `newAdmin` is added as a
     * wallet if it is not one yet; the old admin stays an authorised wallet until removed.
     *
     * Requirements: as {addWallet}; `newAdmin` non-zero and either unregistered or already a wallet
     * of this institution.
     *
     * May emit {WalletAdded}, {AdminWalletChanged}.
     */
    function setAdminWallet(uint32 institutionId, address newAdmin) external;

    /**
     * @notice Register `publicKey` (X25519) as the next encryption key version of `institutionId`;
     * `institutionId` 0 is the regulator's own key. Earlier versions stay readable
     * ({encryptionKeyAt}): terms sealed under them name their version.
     * @return version the new key's version (1 for the first key)
     *
     * Requirements:
     * - `institutionId` 0: caller has REGULATOR_ROLE;
     * - otherwise as {addWallet}: the regulator, or the institution's admin wallet while the
     *   institution is Active and the registry is not paused; institution not Revoked;
     * - `publicKey` non-zero.
     *
     * May emit {EncryptionKeyRegistered}.
     */
    function setEncryptionKey(uint32 institutionId, bytes32 publicKey) external returns (uint32 version);

    // ------------------------------------------------------------------ views

    /// @notice Current encryption key of `institutionId` (0 = the regulator) and its version; (0, 0) if none.
    function encryptionKey(uint32 institutionId) external view returns (bytes32 publicKey, uint32 version);

    /// @notice Encryption key `version` of `institutionId`. Reverts {UnknownEncryptionKey}.
    function encryptionKeyAt(uint32 institutionId, uint32 version) external view returns (bytes32 publicKey);

    /// @notice Full record of `institutionId`. Reverts {UnknownInstitution}.
    function getInstitution(uint32 institutionId) external view returns (Institution memory);

    /// @notice The one-slot core of `institutionId` (status None if unregistered; never reverts).
    function institutionCore(uint32 institutionId) external view returns (InstitutionCore memory);

    /// @notice Institution `wallet` belongs to, 0 if none.
    function institutionOf(address wallet) external view returns (uint32);

    /// @notice Institution registered under `identifier`, 0 if none.
    function institutionByIdentifier(bytes20 identifier) external view returns (uint32);

    /// @notice Number of institutions registered so far (ids are 1..count).
    function institutionCount() external view returns (uint32);

    /**
     * @notice Everything the ledger needs for one write in one call: the institution of `wallet`
     * and its core, and the cores of `a` and `b` (each left zeroed when the id is 0).
     */
    function lookup(address wallet, uint32 a, uint32 b)
        external
        view
        returns (uint32 walletInstitution, InstitutionCore memory walletCore, InstitutionCore memory coreA, InstitutionCore memory coreB);

    /**
     * @notice {lookup} with each core returned as the raw storage word of the institution's slot 0
     * (no struct ABI encoding: the ledger's hot path). Word layout, from the low bits:
     * admin (address, bits 0-159) | kind (uint8, 160-167) | status (uint8, 168-175) |
     * capitalBase (uint64, 176-239). A zero word = id 0 or unregistered (status None).
     */
    function coreWords(address wallet, uint32 a, uint32 b)
        external
        view
        returns (uint32 walletInstitution, uint256 walletCore, uint256 coreA, uint256 coreB);

    /// @notice True when `identifier` is a syntactically valid LEI (with check digits) or USCC.
    function isValidIdentifier(bytes20 identifier) external pure returns (bool);
}
